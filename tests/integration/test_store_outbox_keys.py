"""Any record key is writable and published in order, on both stores: long ones (past what
a btree entry holds), binary, empty and none."""

import os

import asyncpg
import pytest

from service.codec import OutgoingRecord
from service.store import BatchWrite, OutboxEntry, PostgresStore, Store
from service.store.migrations import MIGRATIONS, migrate

#: Past a btree entry's 2.7 KB, a page, and up to a record's 1 MB; random, so incompressible.
KEYS: list[bytes | None] = [
    os.urandom(3000),
    os.urandom(8192),
    os.urandom(1_000_000),
    bytes(range(256)) * 20,
    b"",
    None,
]


def entry(key: bytes | None, n: int) -> OutboxEntry:
    return OutboxEntry(n % 3, OutgoingRecord("events", key, b"%d" % n, (), "referral.updated"))


class Recorder:
    def __init__(self) -> None:
        self.handed: list[list[OutboxEntry]] = []

    async def __call__(self, entries: list[OutboxEntry]) -> list[int]:
        self.handed.append(entries)
        return [e.seq for e in entries]


async def test_records_of_any_key_are_stored_and_handed_over_in_order(store: Store) -> None:
    older = await store.write(BatchWrite(outbox=[entry(key, n) for n, key in enumerate(KEYS)]))
    newer = await store.write(BatchWrite(outbox=[entry(key, 10 + n) for n, key in enumerate(KEYS)]))
    assert [e.record.key for e in await store.pending()] == KEYS + KEYS
    publish = Recorder()

    await store.publish_in_order(newer, publish)

    # Each keyed record of the newer batch goes after the older one of its key; a record
    # without a key has no older ones.
    keyed = [e for e in older if e.record.key is not None]
    assert [[e.seq for e in page] for page in publish.handed] == [
        sorted([e.seq for e in keyed] + [e.seq for e in newer])
    ]
    assert [e.record for e in publish.handed[0]] == sorted(
        [e.record for e in keyed] + [e.record for e in newer],
        key=lambda r: int(r.value or b"0"),
    )
    assert [e.record.key for e in await store.pending()] == [None]


async def test_the_backlog_of_any_key_is_published_oldest_first(store: Store) -> None:
    stored = await store.write(BatchWrite(outbox=[entry(key, n) for n, key in enumerate(KEYS)]))
    publish = Recorder()

    await store.publish_in_order(None, publish)

    assert [e.record for page in publish.handed for e in page] == [e.record for e in stored]
    assert await store.outbox_backlog() == 0


@pytest.mark.postgres
async def test_outbox_rows_of_a_database_before_key_digests_get_them(postgres_url: str) -> None:
    """An existing database migrates: its unpublished rows are found by their key after."""
    db = await asyncpg.connect(postgres_url)
    try:
        await db.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, statements in enumerate(MIGRATIONS[:6], start=1):  # before digests (7)
            for statement in statements:
                await db.execute(statement)
            await db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        await db.execute(
            "INSERT INTO outbox (source_partition, topic, key, value, headers, kind)"
            " VALUES (0, 'events', 'r1', 'old', '[]', 'referral.created')"
        )
        assert await migrate(db) == len(MIGRATIONS)
    finally:
        await db.close()
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        newer = await store.write(BatchWrite(outbox=[entry(b"r1", 1)]))
        publish = Recorder()
        await store.publish_in_order(newer, publish)
    finally:
        await store.close()

    assert [[e.record.value for e in page] for page in publish.handed] == [[b"old", b"1"]]
