"""The PostgreSQL store's outbox: rows handed to the publisher in order, and deleted once
published, while several replicas publish from the same table.

A publisher locks the unpublished rows of the keys it publishes, in seq order: a replica
waits for another publishing the same referral, then skips the rows it deleted; ordered
locking cannot deadlock. Rows are found by the SHA-256 digest of their key, which an index
holds whatever the key's length (a key itself may be longer than a btree entry).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Collection, Sequence
from typing import TYPE_CHECKING

from service.store.base import OutboxEntry, Publish, entry_keys
from service.store.rows import outgoing_from_row

if TYPE_CHECKING:
    from asyncpg import Record

    from service.store.migrations import Db
    from service.store.postgres_pool import PostgresPool

#: Outbox rows a backlog drain publishes per transaction.
DRAIN_PAGE = 1000
#: A batch of this many entries or more takes its row locks in a round trip of its own,
#: its keys sent as a parameter: written out as text, 128 keys take the server longer to
#: parse and plan than the round trip saved (on the bench's machine, 500 keys: ~1.5 ms
#: against ~1.2 ms), while a batch of one or two saves a wake-up of the server.
LOCKS_APART = 128
_OUTBOX_COLUMNS = "seq, source_partition, topic, key, value, headers, kind"
#: A publish transaction only deletes what Kafka acknowledged: if a crash loses that
#: deletion the rows are published again, with the same ids, so it need not wait for the
#: WAL flush. Begun with that setting, and a batch's row locks taken, in one round trip
#: (the simple query protocol: several statements in one message).
_BEGIN_UNFLUSHED = "BEGIN; SET LOCAL synchronous_commit = off"


def key_digest(key: bytes) -> bytes:
    """What the outbox indexes of a record key (its ``key_digest`` column)."""
    return hashlib.sha256(key).digest()


class PostgresOutbox:
    def __init__(self, pool: PostgresPool) -> None:
        self._pool = pool

    async def pending(self, partitions: Collection[int] | None = None) -> list[OutboxEntry]:
        rows = await self._pool.fetch(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox"
            " WHERE $1::int[] IS NULL OR source_partition = ANY($1::int[]) ORDER BY seq",
            None if partitions is None else list(partitions),
        )
        return [_outbox_entry(row) for row in rows]

    async def mark_published(self, seqs: Collection[int]) -> None:
        if seqs:
            async with self._pool.connection() as db:
                await db.execute("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", list(seqs))

    async def publish_in_order(
        self, entries: Sequence[OutboxEntry] | None, publish: Publish
    ) -> None:
        if entries is not None and not entries:
            return
        async with self._pool.connection() as db:
            if entries is None:
                while await _publish_page(db, publish) == DRAIN_PAGE:
                    pass
                return
            async with _unflushed_transaction(db, _locking(entries)) as only_these:
                if only_these:
                    ordered = sorted(entries, key=lambda entry: entry.seq)
                else:
                    ordered = await _locked_entries(db, entries)
                await _delete_and_commit(db, await publish(ordered))


async def _publish_page(db: Db, publish: Publish) -> int:
    """Publish the oldest page of the backlog; how many of its rows were published."""
    async with _unflushed_transaction(db):
        rows = await db.fetch(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE",
            DRAIN_PAGE,
        )
        published = await publish([_outbox_entry(row) for row in rows])
        await _delete_and_commit(db, published)
    return len(published)


def _locking(entries: Sequence[OutboxEntry]) -> str:
    """A statement that locks, in seq order, the unpublished rows of the entries' keys (and
    the keyless entries' own rows), and answers with no row when those are exactly the
    entries: none published meanwhile, none older. Written out for the simple protocol
    (which takes no parameters): the digests as hex text, the seqs as the integers they are;
    empty for a batch of ``LOCKS_APART`` entries or more."""
    if len(entries) >= LOCKS_APART:
        return ""
    digests = ",".join(key_digest(key).hex() for key in entry_keys(entries))
    keyless = ",".join(str(int(e.seq)) for e in entries if e.record.key is None)
    seqs = ",".join(str(int(e.seq)) for e in entries)
    return (
        "WITH locked AS MATERIALIZED (SELECT seq FROM outbox WHERE key_digest = ANY(ARRAY("
        f"SELECT decode(h, 'hex') FROM unnest('{{{digests}}}'::text[]) AS h))"
        f" OR seq = ANY('{{{keyless}}}'::bigint[]) ORDER BY seq FOR UPDATE)"
        f" SELECT 1 FROM locked HAVING count(*) <> {len(entries)}"
        f" OR bool_or(seq <> ALL('{{{seqs}}}'::bigint[]))"
    )


async def _locked_entries(db: Db, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
    """The rows the transaction locked for the entries, in seq order: the entries still
    unpublished, after the older unpublished rows of their keys."""
    locked = await db.fetch(
        "SELECT seq FROM outbox"
        " WHERE key_digest = ANY($1::bytea[]) OR seq = ANY($2::bigint[])"
        " ORDER BY seq FOR UPDATE",
        [key_digest(key) for key in entry_keys(entries)],
        [e.seq for e in entries if e.record.key is None],
    )
    seqs = [row["seq"] for row in locked]
    known = {e.seq: e for e in entries}
    others = await _outbox_rows(db, [seq for seq in seqs if seq not in known])
    return [known.get(seq) or others[seq] for seq in seqs]


@contextlib.asynccontextmanager
async def _unflushed_transaction(db: Db, first: str = "") -> AsyncIterator[bool]:
    """A transaction that commits without waiting for the WAL flush, begun in the round
    trip of its ``first`` statement; yields whether that statement answered with no row.
    Rolled back when the block raises (a connection too broken to roll back is dropped by
    the pool)."""
    try:  # the first statement may fail after the begin (a lock not granted in time)
        status = await db.execute(f"{_BEGIN_UNFLUSHED}; {first}" if first else _BEGIN_UNFLUSHED)
        yield bool(first) and status == "SELECT 0"
    except BaseException:
        with contextlib.suppress(Exception):
            await db.execute("ROLLBACK")
        raise
    if db.is_in_transaction():  # not committed by the block itself
        await db.execute("COMMIT")


async def _delete_and_commit(db: Db, seqs: Collection[int]) -> None:
    """Delete the published rows and commit, in one round trip (the simple protocol takes no
    parameters: the seqs, integers read from the outbox, are written into the statement)."""
    numbers = ",".join(str(int(seq)) for seq in seqs)
    deleting = f"DELETE FROM outbox WHERE seq = ANY('{{{numbers}}}'::bigint[]); " if seqs else ""
    await db.execute(f"{deleting}COMMIT")


async def _outbox_rows(db: Db, seqs: list[int]) -> dict[int, OutboxEntry]:
    if not seqs:
        return {}
    rows = await db.fetch(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE seq = ANY($1::bigint[])", seqs
    )
    return {row["seq"]: _outbox_entry(row) for row in rows}


def _outbox_entry(row: Record) -> OutboxEntry:
    record = outgoing_from_row(row["topic"], row["key"], row["value"], row["headers"], row["kind"])
    return OutboxEntry(row["source_partition"], record, row["seq"])
