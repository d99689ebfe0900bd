"""The values of the records the service emits: events and rejections, as typed dicts.

Binary-mode records carry these as their value, structured ones as their ``data``; the
published contract's schemas are generated from these types.
"""

from typing import Any

from typing_extensions import TypedDict  # pydantic reads it for the contract on Python 3.11

from service.jsonio import dumps
from state import (
    Command,
    ReferralEvent,
    ReferralStatus,
    ReferralSubstatus,
    Rejected,
    RejectionCode,
    referral_id_for,
)
from state.fields import format_utc


class EventPayload(TypedDict):
    """The value of an event record (binary mode) or its ``data`` (structured mode)."""

    referralId: str
    tenantId: str | None
    version: int
    eTag: str
    status: ReferralStatus
    substatus: ReferralSubstatus
    previousStatus: ReferralStatus | None
    previousSubstatus: ReferralSubstatus | None
    changedPaths: list[str]
    commandId: str
    correlationId: str | None
    time: str
    referral: dict[str, Any]  # the referral document (its schema is the Referral model's)


class FieldProblemPayload(TypedDict):
    target: str
    code: str
    message: str


class RejectionPayload(TypedDict):
    """The value of a ``referral.command.rejected`` record."""

    commandId: str
    commandType: str
    referralId: str
    tenantId: str | None
    code: RejectionCode
    message: str
    details: list[FieldProblemPayload]


def event_payload(event: ReferralEvent) -> EventPayload:
    return {
        "referralId": event.referral_id,
        "tenantId": event.tenant_id,
        "version": event.version,
        "eTag": event.etag,
        "status": event.status,
        "substatus": event.substatus,
        "previousStatus": event.previous_status,
        "previousSubstatus": event.previous_substatus,
        "changedPaths": list(event.changed_paths),
        "commandId": event.command_id,
        "correlationId": event.correlation_id,
        "time": format_utc(event.time),
        "referral": event.referral.to_document(),
    }


def rejection_payload(command: Command, rejected: Rejected) -> RejectionPayload:
    return {
        "commandId": command.command_id,
        "commandType": command.type.value,
        "referralId": referral_id_for(command),
        "tenantId": command.tenant_id,
        "code": rejected.code,
        "message": rejected.message,
        "details": _problems(rejected),
    }


def rejection_reason(rejected: Rejected) -> str:
    """A rejection's reason as the store keeps it beside the command's record: the fields
    of its payload that say why, as JSON text (the write API answers with them)."""
    reason = {"code": rejected.code, "message": rejected.message, "details": _problems(rejected)}
    return dumps(reason).decode()


def _problems(rejected: Rejected) -> list[FieldProblemPayload]:
    return [
        {"target": problem.target, "code": problem.code, "message": problem.message}
        for problem in rejected.details
    ]
