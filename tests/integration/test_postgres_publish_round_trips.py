"""PostgreSQL's publish of a batch in as few round trips as its guarantee allows: a small
batch's transaction is begun with its row locks taken (one round trip), and its published
rows deleted with the commit (another); what else the locks find is read in between."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from service.codec import OutgoingRecord
from service.errors import ServiceError
from service.store import BatchWrite, OutboxEntry, PostgresStore
from service.store.postgres_outbox import LOCKS_APART, PostgresOutbox
from service.store.postgres_pool import PostgresBounds, PostgresPool

pytestmark = pytest.mark.postgres


def entry(n: int, key: bytes | None) -> OutboxEntry:
    return OutboxEntry(0, OutgoingRecord("events", key, b"%d" % n, (), "referral.updated"))


class Watched:
    """An outbox over a pool of one connection whose every statement is recorded."""

    def __init__(self, url: str, bounds: PostgresBounds | None = None) -> None:
        self.pool = PostgresPool(url, 1, bounds or PostgresBounds())
        self.outbox = PostgresOutbox(self.pool)
        self.statements: list[str] = []

    async def open(self) -> None:
        await self.pool.open()
        async with self.pool.connection() as db:
            db.add_query_logger(lambda logged: self.statements.append(logged.query))

    async def publish(self, entries: list[OutboxEntry]) -> list[list[bytes | None]]:
        handed: list[list[bytes | None]] = []

        async def publish(batch: list[OutboxEntry]) -> list[int]:
            handed.append([e.record.value for e in batch])
            return [e.seq for e in batch]

        self.statements.clear()
        await self.outbox.publish_in_order(entries, publish)
        return handed


@pytest.fixture
async def stores(postgres_url: str) -> AsyncIterator[tuple[PostgresStore, Watched]]:
    store, watched = PostgresStore(postgres_url), Watched(postgres_url)
    await store.open()
    await watched.open()
    # The connection's first statements also read the types they bind from the server
    # (asyncpg does, once): a batch with an older row of its key reads them all.
    await store.write(BatchWrite(outbox=[entry(0, b"first")]))
    await watched.publish(await store.write(BatchWrite(outbox=[entry(0, b"first")])))
    try:
        yield store, watched
    finally:
        await watched.pool.close()
        await store.close()


async def test_a_small_batch_is_published_in_two_round_trips(
    stores: tuple[PostgresStore, Watched],
) -> None:
    store, watched = stores
    stored = await store.write(BatchWrite(outbox=[entry(1, b"r1"), entry(2, None)]))

    handed = await watched.publish(stored)

    assert handed == [[b"1", b"2"]]
    assert len(watched.statements) == 2
    assert watched.statements[0].startswith("BEGIN")
    assert "FOR UPDATE" in watched.statements[0]
    assert watched.statements[1].endswith("COMMIT")
    assert await store.outbox_backlog() == 0


async def test_older_rows_of_its_keys_cost_a_small_batch_the_reads_that_find_them(
    stores: tuple[PostgresStore, Watched],
) -> None:
    store, watched = stores
    await store.write(BatchWrite(outbox=[entry(1, b"r1")]))
    newer = await store.write(BatchWrite(outbox=[entry(2, b"r1")]))

    handed = await watched.publish(newer)

    assert handed == [[b"1", b"2"]]
    assert len(watched.statements) == 4  # begin and locks; the locked seqs; older rows; commit
    assert await store.outbox_backlog() == 0


async def test_a_large_batch_takes_its_locks_in_a_round_trip_of_their_own(
    stores: tuple[PostgresStore, Watched],
) -> None:
    store, watched = stores
    stored = await store.write(
        BatchWrite(outbox=[entry(n, b"r%d" % n) for n in range(LOCKS_APART)])
    )

    handed = await watched.publish(stored)

    assert handed == [[b"%d" % n for n in range(LOCKS_APART)]]
    assert len(watched.statements) == 3
    assert await store.outbox_backlog() == 0


async def test_a_lock_not_granted_in_time_leaves_the_rows_and_a_clean_connection(
    postgres_url: str, stores: tuple[PostgresStore, Watched]
) -> None:
    store, _ = stores
    watched = Watched(postgres_url, PostgresBounds(statement=0.2))  # locks wait 150 ms
    await watched.open()
    complaints: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: complaints.append(context))
    stored = await store.write(BatchWrite(outbox=[entry(1, b"r1")]))
    holder = await asyncpg.connect(postgres_url)
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM outbox WHERE seq = $1 FOR UPDATE", stored[0].seq)
        with pytest.raises(ServiceError):
            await watched.publish(stored)
        await holder.execute("ROLLBACK")

        handed = await watched.publish(stored)
    finally:
        await holder.close()
        await watched.pool.close()

    assert handed == [[b"1"]]
    assert complaints == []  # the transaction was rolled back, not left to the pool's reset
    assert await store.outbox_backlog() == 0
