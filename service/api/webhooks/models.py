"""The webhook registration routes' bodies, as models the OpenAPI document names: the
registration asked for (``WebhookRegistrationRequest``), as shown (``WebhookRegistration``),
as answered once with its signing secret (``WebhookRegistrationWithSecret``), and the
answer to a test event (``WebhookTestEvent``). Partner Center's names, capitalised."""

from enum import StrEnum
from typing import Annotated, Final

from pydantic import Field
from typing_extensions import TypedDict  # pydantic reads it for the schema on Python 3.11

MAX_URL: Final = 2048


class WebhookEvent(StrEnum):
    """An event a registration may ask to be notified of (``service.webhooks.notices``)."""

    REFERRAL_CREATED = "referral-created"
    REFERRAL_UPDATED = "referral-updated"


class WebhookRegistrationState(StrEnum):
    """``failing``: deliveries failed past the retry period and are parked until a replay."""

    ACTIVE = "active"
    FAILING = "failing"


_URL: Final = (
    "Where notifications are sent: https:// (http:// where the service allows it for"
    " development), no credentials, a host whose every address is public."
)


class WebhookRegistrationRequest(TypedDict):
    """A tenant's webhook: where to send and which events. Other fields of Partner
    Center's registration body are accepted and ignored."""

    WebhookUrl: Annotated[str, Field(min_length=1, max_length=MAX_URL, description=_URL)]
    WebhookEvents: Annotated[list[WebhookEvent], Field(min_length=1)]


class WebhookRegistration(TypedDict):
    """A tenant's webhook registration, without its signing secret."""

    WebhookUrl: Annotated[str, Field(description=_URL)]
    WebhookEvents: list[WebhookEvent]
    State: WebhookRegistrationState


class WebhookRegistrationWithSecret(WebhookRegistration):
    """A registration as created or replaced: with its new signing secret, answered once."""

    SigningSecret: Annotated[
        str, Field(description="The HMAC-SHA256 key of the notifications' signatures.")
    ]


class WebhookTestEvent(TypedDict):
    """A ``test-created`` notification queued for the registered URL."""

    CorrelationId: Annotated[str, Field(description="The notification's correlation id.")]
