"""Webhook registration in Partner Center's shape, per tenant, on the API port:
``POST/GET/PUT/DELETE /webhooks/v1/registration`` with ``{"WebhookUrl", "WebhookEvents"}``
and ``POST /webhooks/v1/registration/validationEvents`` (a ``test-created`` notification,
at most ``test_events_per_minute`` a tenant, as Partner Center allows).

The tenant is the caller's (an all-tenants caller names one with ``tenantId``). Reading
needs the read API's authentication; changing needs write permission (``auth``). The
signing secret is answered once, by POST and by PUT (which rotates it), never by GET.
``/openapi.json`` documents them (``models``, ``openapi``); the body is read
as given and judged here, so that a refusal names what is wrong in Partner Center's words.
"""

import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import Body, FastAPI, Query
from fastapi.responses import Response
from pydantic import WithJsonSchema

from service.api.auth import Principal
from service.api.errors import CONTENT_TYPE, ApiError, error_body, invalid
from service.api.webhooks.models import MAX_URL
from service.api.webhooks.openapi import (
    DELETED,
    REGISTERED,
    REPLACED,
    SHOWN,
    TEST_EVENT,
)
from service.jsonio import dumps
from service.settings import Settings
from service.store import Store
from service.store.webhooks import Registration
from service.webhooks.notices import EVENTS, TEST, Notice
from service.webhooks.signing import new_secret
from service.webhooks.targets import TargetPolicy, UnsafeTarget, checked
from state.fields import format_utc

PATH: Final = "/webhooks/v1/registration"
_REQUEST_SCHEMA: Final = {"$ref": "#/components/schemas/WebhookRegistrationRequest"}
#: Every route's tag; the answers are built here (``response_class`` keeps FastAPI's out).
_DOCUMENTED: Final[dict[str, Any]] = {"tags": ["webhooks"], "response_class": Response}


#: Registration safety as outside development: https, public addresses only.
_PRODUCTION_POLICY: Final = TargetPolicy()


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    policy: TargetPolicy = _PRODUCTION_POLICY
    test_events_per_minute: int = 2


def webhook_options(settings: Settings) -> WebhookOptions:
    policy = TargetPolicy(settings.webhook_allow_http, settings.webhook_allow_private_targets)
    return WebhookOptions(policy, settings.webhook_test_events_per_minute)


class ValidationEventLimit:
    """At most ``per_minute`` test events a tenant in any 60 seconds (this process)."""

    def __init__(self, per_minute: int, clock: Any = time.monotonic) -> None:
        self.per_minute, self.clock = per_minute, clock
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    def wait_for(self, tenant: str) -> int:
        """Seconds until the tenant may send another (0: now, and it is counted)."""
        now, sent = self.clock(), self._sent[tenant]
        while sent and now - sent[0] >= 60:
            sent.popleft()
        if len(sent) >= self.per_minute:
            return max(1, int(60 - (now - sent[0])) + 1)
        sent.append(now)
        return 0


def _tenant(principal: Principal, asked: str | None, write: bool) -> str:
    """The store's tenant column of the registration the caller acts on."""
    if write and not principal.can_write:
        raise ApiError(403, "accessDenied", "changing webhooks needs write permission")
    if principal.all_tenants:
        return asked or ""
    if asked is not None and asked != principal.tenant_id:
        raise ApiError(403, "accessDenied", "another tenant's webhooks are not yours")
    return principal.tenant_id or ""


def _answer(registration: Registration, status: int = 200, secret: bool = False) -> Response:
    body: dict[str, Any] = {
        "WebhookUrl": registration.url,
        "WebhookEvents": list(registration.events),
        "State": registration.state,
    }
    if secret:
        body["SigningSecret"] = registration.secret
    return Response(dumps(body), status, media_type=CONTENT_TYPE)


async def _validated(given: Any, policy: TargetPolicy) -> tuple[str, tuple[str, ...]]:
    if not isinstance(given, dict):
        raise invalid("the body must be a JSON object", "body")
    url, events = given.get("WebhookUrl"), given.get("WebhookEvents")
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise invalid(f"WebhookUrl must be a URL of at most {MAX_URL} characters", "WebhookUrl")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise invalid("WebhookEvents must be a non-empty list of event names", "WebhookEvents")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise invalid(
            f"unknown events {', '.join(unknown)}: known are {', '.join(EVENTS)}", "WebhookEvents"
        )
    try:
        await checked(url, policy)
    except UnsafeTarget as refused:
        raise invalid(str(refused), "WebhookUrl") from None
    return url, tuple(dict.fromkeys(events))


def route_webhooks(app: FastAPI, store: Store, Caller: Any, options: WebhookOptions) -> None:
    """Mount the registration routes (``Caller``: the authenticated principal)."""
    limit = ValidationEventLimit(options.test_events_per_minute)
    TenantId = Annotated[str | None, Query(alias="tenantId", max_length=256)]
    # Read as given (judged by ``_validated``), documented as the named request schema.
    Given = Annotated[Any, Body(), WithJsonSchema(_REQUEST_SCHEMA)]

    async def save(
        principal: Principal, tenant_id: str | None, given: Any, create: bool
    ) -> Response:
        tenant = _tenant(principal, tenant_id, write=True)
        url, events = await _validated(given, options.policy)
        if create and await store.registration(tenant) is not None:
            raise ApiError(409, "conflict", "the tenant has a registration: PUT replaces it")
        registration = Registration(tenant, url, events, new_secret())
        await store.save_registration(registration)
        return _answer(registration, 201 if create else 200, secret=True)

    @app.post(PATH, operation_id="createWebhookRegistration", status_code=201,
              responses=REGISTERED, **_DOCUMENTED)  # fmt: skip
    async def create_webhook_registration(
        principal: Caller, given: Given, tenant_id: TenantId = None
    ) -> Response:
        """Register the tenant's webhook; the answer holds its signing secret, once.
        Needs write permission (see the security schemes)."""
        return await save(principal, tenant_id, given, create=True)

    @app.put(PATH, operation_id="replaceWebhookRegistration", responses=REPLACED,
             **_DOCUMENTED)  # fmt: skip
    async def replace_webhook_registration(
        principal: Caller, given: Given, tenant_id: TenantId = None
    ) -> Response:
        """Replace the tenant's webhook and rotate its signing secret (answered once); a
        failing registration becomes active again. Needs write permission (see the
        security schemes)."""
        return await save(principal, tenant_id, given, create=False)

    @app.get(PATH, operation_id="getWebhookRegistration", responses=SHOWN, **_DOCUMENTED)
    async def get_webhook_registration(principal: Caller, tenant_id: TenantId = None) -> Response:
        """The tenant's webhook registration, without its secret."""
        found = await store.registration(_tenant(principal, tenant_id, write=False))
        if found is None:
            raise ApiError(404, "itemNotFound", "the tenant has no webhook registration")
        return _answer(found)

    @app.delete(PATH, operation_id="deleteWebhookRegistration", status_code=204,
                responses=DELETED, **_DOCUMENTED)  # fmt: skip
    async def delete_webhook_registration(
        principal: Caller, tenant_id: TenantId = None
    ) -> Response:
        """Delete the tenant's registration and its undelivered notifications.
        Needs write permission (see the security schemes)."""
        if not await store.delete_registration(_tenant(principal, tenant_id, write=True)):
            raise ApiError(404, "itemNotFound", "the tenant has no webhook registration")
        return Response(status_code=204)

    @app.post(PATH + "/validationEvents", operation_id="sendWebhookTestEvent",
              responses=TEST_EVENT, **_DOCUMENTED)  # fmt: skip
    async def send_webhook_test_event(principal: Caller, tenant_id: TenantId = None) -> Response:
        """Send a ``test-created`` notification to the tenant's registered URL (2 a minute
        unless configured). Needs write permission (see the security schemes)."""
        tenant = _tenant(principal, tenant_id, write=True)
        if await store.registration(tenant) is None:
            raise ApiError(404, "itemNotFound", "the tenant has no webhook registration")
        wait = limit.wait_for(tenant)
        if wait:
            message = f"at most {limit.per_minute} test events a minute"
            return Response(
                dumps(error_body("tooManyRequests", message)), 429,
                {"Retry-After": str(wait)}, media_type=CONTENT_TYPE,
            )  # fmt: skip
        correlation = str(uuid.uuid4())
        now = format_utc(datetime.now(UTC))
        await store.enqueue_notices([Notice(tenant, correlation, TEST, now)])
        return Response(dumps({"CorrelationId": correlation}), 200, media_type=CONTENT_TYPE)
