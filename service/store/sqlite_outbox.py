"""The SQLite store's outbox: rows handed to the publisher in order, and marked published,
while several processes write and publish through the same file.

A publish claims the keys of what it hands over (``sqlite_claims``), then reads the
unpublished rows of those keys, publishes them oldest first and marks what was published
before it lets the keys go: another process publishing the same referral waits for the
claim, then no longer finds the rows. A mark is a run of seqs in ``outbox_published``, a
few bytes committed without waiting for the disk (``synchronous=NORMAL`` for that
transaction; a crash that loses it publishes the rows again with the same ids, as after a
crash before any mark); the next batch's write, of any process, deletes the marked rows
in its own transaction. Deleting them in the publish's own was measured dearer (5.8 µs of
CPU per command for the publish against 2.1, bench mix): the next write then rewrote the
pages the deletion had just committed.

Rows are read on the loop's own connection (``read_here``), the last commit of every
process, so a publish does not wait behind the next batch's write on the store's thread;
a key's rows are found through the index of keys (``outbox_by_key``), which holds a few
entries a page where the table holds a row or two.
"""

import sqlite3
from collections.abc import Collection, Sequence
from functools import partial

from service.store.base import OutboxEntry, Publish, entry_keys
from service.store.sqlite_claims import claimed_bytes
from service.store.sqlite_connection import SqliteConnections, transaction
from service.store.sqlite_reads import UNPUBLISHED, outbox_rows, power_of_two_chunks
from service.store.sqlite_writes import seq_runs

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
            await self._db.run(lambda db: _mark_published(db, seqs))

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
        (``known``: those at hand), oldest first, and mark what was published."""
        async with self._db.claims.held(claimed_bytes(keys, keyless)):
            due = self._db.read_here(lambda db: _due(db, keys, set(keyless), known))
            if not due:
                return
            published = await publish(due)
            if published:
                await self._db.run(lambda db: _mark_published(db, published))


def _page(db: sqlite3.Connection, after: int, end: int) -> list[tuple[int, bytes | None]]:
    """The (seq, key) of the oldest unpublished rows past ``after`` up to ``end``."""
    return db.execute(
        f"SELECT seq, key FROM outbox WHERE seq > ? AND seq <= ? AND {UNPUBLISHED}"
        " ORDER BY seq LIMIT ?",
        (after, end, DRAIN_PAGE),
    ).fetchall()


def _due(
    db: sqlite3.Connection, keys: set[bytes], keyless: set[int], known: dict[int, OutboxEntry]
) -> list[OutboxEntry]:
    """The unpublished rows of ``keys`` and of the ``keyless`` seqs, oldest first."""
    seqs = sorted(_seqs_of(db, sorted(keys), sorted(keyless)))
    fetched = {e.seq: e for e in outbox_rows(db, [seq for seq in seqs if seq not in known])}
    return [known.get(seq) or fetched[seq] for seq in seqs]


def _seqs_of(db: sqlite3.Connection, keys: list[bytes], keyless: list[int]) -> set[int]:
    """The unpublished rows' seqs of ``keys`` (through the index of keys) and ``keyless``."""
    seqs: set[int] = set()
    for chunk in power_of_two_chunks(keys):
        marks = ",".join("(?)" for _ in chunk)
        seqs.update(
            seq
            for (seq,) in db.execute(
                f"SELECT seq FROM (VALUES {marks}) AS k JOIN outbox INDEXED BY outbox_by_key"
                f" ON outbox.key = k.column1 WHERE {UNPUBLISHED}",
                chunk,
            )
        )
    for seqs_chunk in power_of_two_chunks(keyless):
        marks = ",".join("?" for _ in seqs_chunk)
        found = db.execute(
            f"SELECT seq FROM outbox WHERE seq IN ({marks}) AND {UNPUBLISHED}", seqs_chunk
        )
        seqs.update(seq for (seq,) in found)
    return seqs


def _mark_published(db: sqlite3.Connection, seqs: Collection[int]) -> None:
    """Mark the rows published, in one transaction that commits without waiting for the
    disk."""
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        with transaction(db):
            db.executemany("INSERT INTO outbox_published VALUES (?, ?)", seq_runs(seqs))
    finally:
        db.execute("PRAGMA synchronous=FULL")
