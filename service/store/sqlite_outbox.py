"""The SQLite store's outbox bookkeeping: which rows are published, and which a batch's
publish must hand over before its own so that each key's records go out in order.

One replica owns the file and its consume loop publishes one batch at a time, so no lock
is needed. Published rows are deleted with the next batch's transaction (one fsync fewer
per batch); after a crash they are published again, with the same ids, as after a crash
before any deletion.
"""

import sqlite3
from collections.abc import Collection, Sequence

from service.store.base import OutboxEntry, Publish, entry_keys
from service.store.sqlite_connection import SqliteConnections, transaction
from service.store.sqlite_reads import outbox_rows
from service.store.sqlite_writes import delete_outbox


class SqliteOutbox:
    def __init__(self, connections: SqliteConnections) -> None:
        self._db = connections
        #: Outbox rows published but not yet deleted.
        self._published: set[int] = set()
        #: Outbox rows this process wrote and has not published; None until a drain of
        #: the whole outbox has shown what an earlier process left. While it is known to
        #: hold nothing but a batch's own rows, that batch is published without reading
        #: the outbox for older rows of its referrals.
        self._unpublished: set[int] | None = None

    def to_delete(self) -> list[int]:
        """The rows published since the last batch, for its transaction to delete."""
        return list(self._published)

    def written(self, deleted: Collection[int], stored: Sequence[OutboxEntry]) -> None:
        """A batch committed: it deleted ``deleted`` and stored ``stored``."""
        self._published.difference_update(deleted)
        if self._unpublished is not None:
            self._unpublished.update(entry.seq for entry in stored)

    async def pending(self, partitions: Collection[int] | None = None) -> list[OutboxEntry]:
        wanted = None if partitions is None else set(partitions)

        def query(db: sqlite3.Connection) -> list[OutboxEntry]:
            return [
                entry
                for entry in outbox_rows(db, None)
                if (wanted is None or entry.source_partition in wanted)
                and entry.seq not in self._published
            ]

        return await self._db.run(query)

    async def mark_published(self, seqs: Collection[int]) -> None:
        ordered = list(seqs)
        self._published.difference_update(ordered)

        def delete(db: sqlite3.Connection) -> None:
            with transaction(db):
                delete_outbox(db, ordered)

        if ordered:
            await self._db.run(delete)

    async def publish_in_order(
        self, entries: Sequence[OutboxEntry] | None, publish: Publish
    ) -> None:
        if entries is None:
            backlog = await self.pending()
            self._unpublished = {entry.seq for entry in backlog}
            self._published_now(await publish(backlog))
            return
        if not entries:
            return
        known = {e.seq: e for e in entries}
        if self._unpublished is not None and self._unpublished.issubset(known):
            waiting = [known[seq] for seq in sorted(self._unpublished)]
            self._published_now(await publish(waiting))
            return
        self._published_now(await publish(await self._db.run(lambda db: self._due(db, known))))

    def _due(self, db: sqlite3.Connection, known: dict[int, OutboxEntry]) -> list[OutboxEntry]:
        """The unpublished rows of the entries' keys and the entries, oldest first."""
        keys = entry_keys(known.values())
        seqs = [
            seq
            for seq, key in db.execute("SELECT seq, key FROM outbox ORDER BY seq")
            if (seq in known or (key is not None and key in keys)) and seq not in self._published
        ]
        others = [seq for seq in seqs if seq not in known]
        fetched = {entry.seq: entry for entry in outbox_rows(db, others)}
        return [known.get(seq) or fetched[seq] for seq in seqs]

    def _published_now(self, seqs: Collection[int]) -> None:
        self._published.update(seqs)
        if self._unpublished is not None:
            self._unpublished.difference_update(seqs)

    async def delete_published(self) -> None:
        """Delete the rows published and not yet deleted."""
        await self.mark_published(set(self._published))
