"""A batch's write holds the referrals its decision read and does not write to the versions
it read them at (0: absent): otherwise the write is refused (StaleWrite) and writes nothing,
on every store. A rejection or a no-op decided on a referral that moved on meanwhile is
then decided again, as one that changes it is."""

from datetime import UTC, datetime

import pytest

from service.codec import OutgoingRecord
from service.errors import StaleWrite
from service.store import (
    BatchWrite,
    OutboxEntry,
    ProcessedCommand,
    ReadReferral,
    ReferralWrite,
    Store,
)
from state import Applied, Command, CommandKey, CommandType, ReferralKey, ReferralRecord, decide

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _decided(record: ReferralRecord | None, kind: CommandType, referral_id: str,
             tenant: str | None) -> ReferralRecord:  # fmt: skip
    data = {"name": referral_id} if kind is CommandType.CREATE else None
    command = Command(type=kind, command_id=f"{kind}-{referral_id}", referral_id=referral_id,
                      data=data, tenant_id=tenant)  # fmt: skip
    decision = decide(record, command, NOW)
    assert isinstance(decision, Applied)
    return decision.record


def _rejection_batch(read: list[ReadReferral]) -> BatchWrite:
    """A batch that only records a rejected command and its rejection's record."""
    record = OutgoingRecord("rejections", b"r1", b"{}", (), "command.rejected")
    return BatchWrite(
        processed=[ProcessedCommand("rejected-1", "r1", "rejected", None, "illegal")],
        outbox=[OutboxEntry(0, record)],
        read=read,
    )


@pytest.mark.parametrize("tenant", [None, "org-a"])
async def test_a_batch_that_read_referrals_as_they_are_is_written(
    store: Store, tenant: str | None
) -> None:
    created = _decided(None, CommandType.CREATE, "r1", tenant)
    await store.write(BatchWrite(referrals=[ReferralWrite(created, 0)]))

    read = [ReadReferral(tenant, "r1", 1), ReadReferral(tenant, "absent", 0)]
    stored = await store.write(_rejection_batch(read))

    assert len(stored) == 1
    assert await store.seen([CommandKey(None, "rejected-1")]) == {CommandKey(None, "rejected-1")}


@pytest.mark.parametrize(
    "read",
    [
        [ReadReferral(None, "r1", 1)],  # read at version 1, stored at 2
        [ReadReferral(None, "r1", 0)],  # read as absent, stored
        [ReadReferral(None, "absent", 1)],  # read as stored, absent
        [ReadReferral("org-a", "r1", 2)],  # the same id in another tenant: absent
        [ReadReferral(None, "absent", 0), ReadReferral(None, "r1", 3)],  # one of several
    ],
)
async def test_a_batch_that_read_a_referral_otherwise_than_it_is_is_refused_whole(
    store: Store, read: list[ReadReferral]
) -> None:
    created = _decided(None, CommandType.CREATE, "r1", None)
    await store.write(BatchWrite(referrals=[ReferralWrite(created, 0)]))
    accepted = _decided(created, CommandType.ACCEPT, "r1", None)
    await store.write(BatchWrite(referrals=[ReferralWrite(accepted, 1)]))
    other = _decided(None, CommandType.CREATE, "r2", None)

    batch = _rejection_batch(read)
    batch.referrals.append(ReferralWrite(other, 0))
    with pytest.raises(StaleWrite, match="read moved on"):
        await store.write(batch)

    assert await store.seen([CommandKey(None, "rejected-1")]) == set()
    assert await store.load([ReferralKey(None, "r2")]) == {}
    assert await store.pending() == []
    assert (await store.load([created.key]))[created.key].version == 2


async def test_many_read_referrals_are_held_in_one_write(store: Store) -> None:
    records = [_decided(None, CommandType.CREATE, f"r{n}", None) for n in range(300)]
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in records]))
    read = [ReadReferral(None, f"r{n}", 1) for n in range(300)]

    await store.write(_rejection_batch(read))
    late = [*read[:299], ReadReferral(None, "r299", 0)]  # the last chunk's last one
    batch = _rejection_batch(late)
    batch.processed = [ProcessedCommand("rejected-2", "r1", "rejected", None, "illegal")]
    with pytest.raises(StaleWrite):
        await store.write(batch)
    assert await store.seen([CommandKey(None, "rejected-2")]) == set()
