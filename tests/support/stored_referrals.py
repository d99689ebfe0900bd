"""Referrals made through the pure decision at chosen times and stored through the store's
own batch write, for tests that read them back."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from service.store import BatchWrite, ReferralWrite, Store
from state import Applied, Command, CommandType, ReferralRecord, decide

BASE_TIME = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def created(
    referral_id: str, tenant: str | None = "org-a", at: datetime = BASE_TIME, **document: Any
) -> ReferralRecord:
    command = Command(
        type=CommandType.CREATE,
        command_id=f"create-{uuid.uuid4()}",
        referral_id=referral_id,
        tenant_id=tenant,
        data={"name": f"Referral {referral_id}", **document},
    )
    decision = decide(None, command, at)
    assert isinstance(decision, Applied), decision
    return decision.record


def moved(record: ReferralRecord, kind: CommandType, at: datetime) -> ReferralRecord:
    command = Command(
        type=kind,
        command_id=f"move-{uuid.uuid4()}",
        referral_id=record.referral_id,
        tenant_id=record.tenant_id,
    )
    decision = decide(record, command, at)
    assert isinstance(decision, Applied), decision
    return decision.record


async def store_new(store: Store, *records: ReferralRecord) -> None:
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in records]))


async def store_changed(store: Store, before: ReferralRecord, after: ReferralRecord) -> None:
    await store.write(BatchWrite(referrals=[ReferralWrite(after, before.version)]))


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
