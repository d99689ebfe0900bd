"""What a write request becomes: exactly the command the Kafka contract defines (the same
structured envelope ``referrals send`` builds), addressed to the caller's tenant's commands
topic. Pure: no I/O.

- The command id is the request's ``MS-RequestId``, ``request-id`` or ``Idempotency-Key``
  (the first given), else the id the request log made; with the tenant it is the
  idempotency key. ``MS-CorrelationId`` is the command's ``correlationid``.
- A create names its referral by the document's ``id``; without one, by a UUID derived
  from the tenant and the command id, so a retried create is the very same command.
- A replace drops the read-only ``links`` (Partner Center asks clients to remove it).
- A request traced (its server span current) gives the command its trace context
  (``traceparent``, ``tracestate``), so the service's span of the command continues it.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace as replaced
from typing import Any, Final

from service.codec import command_envelope
from service.settings import Settings
from state import CommandKey, CommandType

API_SOURCE: Final = "urn:referrals-api"
#: Request headers naming the command id, in the order they are looked at.
REQUEST_ID_HEADERS: Final = ("ms-requestid", "request-id", "idempotency-key")
_CREATED_IDS: Final = uuid.UUID("5d6f0c0e-2f43-4b8e-9a51-7c1d1a3e8b20")
#: Read-only parts of a referral a replace leaves out.
READ_ONLY: Final = ("links",)


@dataclass(frozen=True, slots=True)
class WriteCommand:
    """A command ready to send: its envelope, where it goes, and whose it is."""

    envelope: dict[str, Any]
    topic: str
    tenant_id: str | None

    @property
    def key(self) -> CommandKey:
        return CommandKey(self.tenant_id, str(self.envelope["id"]))

    @property
    def referral_id(self) -> str:
        return str(self.envelope["subject"])


def request_id(headers: Mapping[str, str]) -> str | None:
    """The command id the request names (headers compared without case), if any."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def attribute_problem(value: str, limit: int) -> str | None:
    """Why ``value`` cannot be a command's attribute (its id, its correlation id): the
    service dead-letters one that is too long or holds control characters."""
    if len(value) > limit:
        return f"is longer than {limit} characters"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "holds control characters"
    return None


def traced(command: WriteCommand, context: Mapping[str, str]) -> WriteCommand:
    """``command`` carrying the W3C trace context ``context`` holds (an injected carrier)."""
    given = {name: context[name] for name in ("traceparent", "tracestate") if context.get(name)}
    return replaced(command, envelope={**command.envelope, **given}) if given else command


def commands_topic(settings: Settings, tenant_id: str | None) -> str:
    """The tenant's own topic in multi-tenant mode; else the shared commands topic, where
    the API's ``tenantid`` is trusted (the API is the service's own producer)."""
    if tenant_id is None:
        return settings.commands_topic
    return settings.tenant_topics.get(tenant_id, settings.commands_topic)


def created_referral_id(tenant_id: str | None, command_id: str) -> str:
    return str(uuid.uuid5(_CREATED_IDS, f"{tenant_id or ''}\x00{command_id}"))


def _command(
    settings: Settings,
    kind: CommandType,
    command_id: str,
    tenant_id: str | None,
    referral_id: str,
    data: Any,
    if_match: str | None = None,
    correlation_id: str | None = None,
) -> WriteCommand:
    envelope = command_envelope(
        kind.value,
        command_id,
        API_SOURCE,
        referral_id,
        data,
        ifmatch=if_match,
        tenantid=tenant_id,
        correlationid=correlation_id,
    )
    return WriteCommand(envelope, commands_topic(settings, tenant_id), tenant_id)


def create(
    settings: Settings,
    command_id: str,
    tenant_id: str | None,
    document: Any,
    correlation_id: str | None = None,
) -> WriteCommand:
    given = document.get("id") if isinstance(document, Mapping) else None
    referral_id = given if isinstance(given, str) and given else None
    referral_id = referral_id or created_referral_id(tenant_id, command_id)
    return _command(
        settings, CommandType.CREATE, command_id, tenant_id, referral_id, document,
        correlation_id=correlation_id,
    )  # fmt: skip


def patch(
    settings: Settings,
    command_id: str,
    tenant_id: str | None,
    referral_id: str,
    operations: Any,
    if_match: str | None,
    correlation_id: str | None = None,
) -> WriteCommand:
    return _command(
        settings, CommandType.PATCH, command_id, tenant_id, referral_id, operations, if_match,
        correlation_id,
    )  # fmt: skip


def replace(
    settings: Settings,
    command_id: str,
    tenant_id: str | None,
    referral_id: str,
    document: Any,
    if_match: str,
    correlation_id: str | None = None,
) -> WriteCommand:
    if isinstance(document, Mapping):
        document = {k: v for k, v in document.items() if k not in READ_ONLY}
    return _command(
        settings, CommandType.REPLACE, command_id, tenant_id, referral_id, document, if_match,
        correlation_id,
    )  # fmt: skip
