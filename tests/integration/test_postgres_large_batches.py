"""PostgreSQL writes a large batch's outbox rows by COPY after its state, in the same
transaction: the batch is stored whole, numbered in its order and published as stored, or
refused whole when another replica wrote one of its rows first."""

import pytest

from service.codec import OutgoingRecord
from service.errors import StaleWrite, StoreRefused
from service.store import (
    BatchWrite,
    OutboxEntry,
    PostgresStore,
    ProcessedCommand,
    ReferralWrite,
)
from service.store.postgres_writes import COPY_FROM
from state import CommandKey, CommandType
from tests.support.stored_referrals import BASE_TIME, created, moved

pytestmark = pytest.mark.postgres
ROWS = COPY_FROM + 72


def _outbox(tag: str) -> list[OutboxEntry]:
    return [
        OutboxEntry(n % 3, OutgoingRecord(
            "events", f"r{n % 7}".encode(), f"{tag}-{n}".encode(),
            (("ce_id", f"{tag}-{n}".encode()), ("raw", bytes([0, 255, n % 256])), ("none", None)),
            "referral.updated",
        ))
        for n in range(ROWS)
    ]  # fmt: skip


def _processed(tag: str) -> list[ProcessedCommand]:
    return [ProcessedCommand(f"{tag}-{n}", None, "applied") for n in range(ROWS)]


async def _opened(url: str) -> PostgresStore:
    store = PostgresStore(url)
    await store.open()
    return store


async def test_a_large_batch_is_numbered_in_its_order_and_published_as_stored(
    postgres_url: str,
) -> None:
    store = await _opened(postgres_url)
    try:
        await store.write(BatchWrite(outbox=_outbox("small")[: COPY_FROM - 1]))
        outbox = _outbox("large")
        records = [created(f"n{n}") for n in range(ROWS)]
        written = await store.write(
            BatchWrite([ReferralWrite(r, 0) for r in records], _processed("large"), outbox)
        )
        pending = await store.pending()
        loaded = await store.load([r.key for r in records])
    finally:
        await store.close()

    seqs = [entry.seq for entry in written]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == ROWS
    assert [e.record for e in written] == [e.record for e in outbox]
    assert [(e.seq, e.source_partition, e.record) for e in pending[COPY_FROM - 1 :]] == [
        (e.seq, e.source_partition, e.record) for e in written
    ]
    assert max(e.seq for e in pending[: COPY_FROM - 1]) < seqs[0]
    assert len(loaded) == ROWS


@pytest.mark.parametrize("fault", ["stale-update", "processed-again"])
async def test_a_large_batch_refused_leaves_nothing_of_it(postgres_url: str, fault: str) -> None:
    store = await _opened(postgres_url)
    first = created("first")
    await store.write(BatchWrite([ReferralWrite(first, 0)], _processed("before")))
    accepted = moved(first, CommandType.ACCEPT, BASE_TIME)
    won = moved(accepted, CommandType.WIN, BASE_TIME)
    await store.write(BatchWrite([ReferralWrite(accepted, first.version)]))
    fresh = [created(f"n{n}") for n in range(ROWS)]
    writes = [ReferralWrite(r, 0) for r in fresh]
    # Stale: ``won`` claims the version before ``accepted``, which another replica wrote.
    writes += [ReferralWrite(won, first.version if fault == "stale-update" else accepted.version)]
    processed = _processed("before" if fault == "processed-again" else "large")
    try:
        with pytest.raises(StaleWrite):
            await store.write(BatchWrite(writes, processed, _outbox("large")))
        pending = await store.pending()
        loaded = await store.load([r.key for r in fresh] + [first.key])
        seen = await store.seen([CommandKey(None, "large-0")])
    finally:
        await store.close()

    assert pending == []
    assert list(loaded) == [first.key]
    assert loaded[first.key].version == accepted.version
    assert seen == set()


async def test_a_large_batch_whose_outbox_cannot_be_stored_leaves_no_state(
    postgres_url: str,
) -> None:
    store = await _opened(postgres_url)
    fresh = [created(f"n{n}") for n in range(ROWS)]
    outbox = _outbox("large")
    broken = outbox[-1].record
    # No kind: the outbox's NOT NULL refuses the row, after the state was written.
    outbox[-1] = OutboxEntry(0, OutgoingRecord(broken.topic, broken.key, broken.value,
                                               broken.headers, None))  # type: ignore[arg-type]  # fmt: skip
    try:
        with pytest.raises(StoreRefused):
            await store.write(BatchWrite([ReferralWrite(r, 0) for r in fresh],
                                         _processed("large"), outbox))  # fmt: skip
        loaded = await store.load([r.key for r in fresh])
        seen = await store.seen([CommandKey(None, "large-0")])
        pending = await store.pending()
    finally:
        await store.close()

    assert (loaded, seen, pending) == ({}, set(), [])
