"""The SQLite store's outbox: rows handed to the publisher in order, and deleted once
published, while several processes write and publish through the same file.

A publish claims the keys of what it hands over (``sqlite_claims``), then reads the
unpublished rows of those keys, publishes them oldest first and deletes what was
published before it lets the keys go: another process publishing the same referral waits
for the claim, then no longer finds the rows deleted. The deletion commits without
waiting for the disk (``synchronous=NORMAL`` for that transaction): if a crash loses it,
the rows are published again with the same ids, as after a crash before any deletion.
The rows are read on the loop's own connection (``read_here``), the last commit of every
process, so a publish does not wait behind the next batch's write on the store's thread.
"""

import sqlite3
from collections.abc import Collection, Sequence
from functools import partial

from service.store.base import OutboxEntry, Publish, entry_keys
from service.store.sqlite_claims import claimed_bytes
from service.store.sqlite_connection import SqliteConnections, transaction
from service.store.sqlite_reads import outbox_rows
from service.store.sqlite_writes import delete_outbox

#: Outbox rows a backlog drain reads per claim.
DRAIN_PAGE = 1000


class SqliteOutbox:
    def __init__(self, connections: SqliteConnections) -> None:
        self._db = connections

    async def pending(self, partitions: Collection[int] | None = None) -> list[OutboxEntry]:
        wanted = None if partitions is None else set(partitions)
        rows = await self._db.run(lambda db: outbox_rows(db, None))
        return [entry for entry in rows if wanted is None or entry.source_partition in wanted]

    async def mark_published(self, seqs: Collection[int]) -> None:
        if seqs:
            await self._db.run(lambda db: _delete_unflushed(db, seqs))

    async def publish_in_order(
        self, entries: Sequence[OutboxEntry] | None, publish: Publish
    ) -> None:
        if entries is None:
            await self._drain(publish)
            return
        if not entries:
            return
        known = {entry.seq: entry for entry in entries}
        keyless = [entry.seq for entry in entries if entry.record.key is None]
        await self._publish_keys(entry_keys(entries), keyless, known, publish)

    async def _drain(self, publish: Publish) -> None:
        """Publish the whole backlog as it stands now, a page of rows per claim."""
        (end,) = self._db.read_here(lambda db: db.execute("SELECT max(seq) FROM outbox").fetchone())
        after = 0
        while end is not None and after < end:
            page = self._db.read_here(partial(_page, after=after, end=end))
            if not page:
                return
            after = page[-1][0]
            keys = {bytes(key) for _, key in page if key is not None}
            keyless = [seq for seq, key in page if key is None]
            await self._publish_keys(keys, keyless, {}, publish)

    async def _publish_keys(
        self,
        keys: set[bytes],
        keyless: list[int],
        known: dict[int, OutboxEntry],
        publish: Publish,
    ) -> None:
        """Under the claim of ``keys`` and ``keyless``: publish their unpublished rows
        (``known``: those at hand), oldest first, and delete what was published."""
        async with self._db.claims.held(claimed_bytes(keys, keyless)):
            due = self._db.read_here(lambda db: _due(db, keys, set(keyless), known))
            if not due:
                return
            published = await publish(due)
            if published:
                await self._db.run(lambda db: _delete_unflushed(db, published))


def _page(db: sqlite3.Connection, after: int, end: int) -> list[tuple[int, bytes | None]]:
    """The (seq, key) of the oldest rows past ``after`` up to ``end``."""
    return db.execute(
        "SELECT seq, key FROM outbox WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
        (after, end, DRAIN_PAGE),
    ).fetchall()


def _due(
    db: sqlite3.Connection, keys: set[bytes], keyless: set[int], known: dict[int, OutboxEntry]
) -> list[OutboxEntry]:
    """The unpublished rows of ``keys`` and of the ``keyless`` seqs, oldest first."""
    seqs = [
        seq
        for seq, key in db.execute("SELECT seq, key FROM outbox ORDER BY seq")
        if (key is None and seq in keyless) or (key is not None and key in keys)
    ]
    fetched = {e.seq: e for e in outbox_rows(db, [seq for seq in seqs if seq not in known])}
    return [known.get(seq) or fetched[seq] for seq in seqs]


def _delete_unflushed(db: sqlite3.Connection, seqs: Collection[int]) -> None:
    """Delete the rows in one transaction that commits without waiting for the disk."""
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        with transaction(db):
            delete_outbox(db, seqs)
    finally:
        db.execute("PRAGMA synchronous=FULL")
