"""Builders shared by the unit tests: a fixed clock, commands and stored referrals."""

from datetime import UTC, datetime, timedelta
from typing import Any

from state import (
    Applied,
    Command,
    CommandType,
    Decision,
    ReferralRecord,
    ReferralStatus,
    ReferralSubstatus,
    Rejected,
    decide,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=5)
REFERRAL_ID = "8c1f2a7e-5b3d-4e61-9f0a-2d4c6b8e1a37"
TENANT = "org-contoso"

#: The seven legal (status, substatus) pairs, spelled as the seed spells them.
LEGAL_STATE_NAMES = (
    "New/Pending",
    "New/Received",
    "Active/Accepted",
    "Closed/Won",
    "Closed/Lost",
    "Closed/Declined",
    "Closed/Expired",
)


def command(
    kind: CommandType,
    data: Any = None,
    *,
    command_id: str | None = None,
    referral_id: str | None = REFERRAL_ID,
    if_match: str | None = None,
    correlation_id: str | None = None,
    tenant_id: str | None = None,
) -> Command:
    return Command(
        type=kind,
        command_id=command_id or f"cmd-{kind.value}",
        referral_id=referral_id,
        data=data,
        if_match=if_match,
        correlation_id=correlation_id,
        tenant_id=tenant_id,
    )


def split_state(name: str) -> tuple[str, str]:
    status, substatus = name.split("/")
    return status, substatus


def state_name(record: ReferralRecord) -> str:
    return f"{record.referral.status}/{record.referral.substatus}"


def applied(decision: Decision) -> Applied:
    assert isinstance(decision, Applied), f"expected Applied, got {decision!r}"
    return decision


def rejected(decision: Decision) -> Rejected:
    assert isinstance(decision, Rejected), f"expected Rejected, got {decision!r}"
    return decision


def created(
    data: dict[str, Any] | None = None, *, tenant_id: str | None = None, now: datetime = NOW
) -> ReferralRecord:
    """A stored referral, made the way the service makes one: by a create command."""
    decision = decide(None, command(CommandType.CREATE, data or {}, tenant_id=tenant_id), now)
    return applied(decision).record


def created_in(state: str, **fields: Any) -> ReferralRecord:
    status, substatus = split_state(state)
    record = created({"status": status, "substatus": substatus, **fields})
    assert record.referral.status == ReferralStatus(status)
    assert record.referral.substatus == ReferralSubstatus(substatus)
    return record


def patch_ops(**values: Any) -> list[dict[str, Any]]:
    """A JSON Patch replacing each named top-level field, e.g. patch_ops(status="Active")."""
    return [{"op": "replace", "path": f"/{key}", "value": value} for key, value in values.items()]
