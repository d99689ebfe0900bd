"""The embedded SQLite store: one file, which the processes of ``referrals run --workers N``
(or two services pointed at it) share. The storage port over the store's connections
(``sqlite_connection``), its statements (``sqlite_reads``, ``sqlite_writes``), its outbox
(``sqlite_outbox``) and the claims its processes take (``sqlite_claims``).

Processes decide in parallel and their writes take turns on SQLite's write lock
(``BEGIN IMMEDIATE``, a bounded busy wait); a write from a version another process has
moved past, a referral it created meanwhile or a command it processed meanwhile is refused
as StaleWrite, as on PostgreSQL. Nothing is cached across calls as if this process were
the file's only writer: a batch load trusts a record it was given only at the version
stored now (a version is written once), the secret is made by whichever process asks
first (``INSERT OR IGNORE``) and read back by all, the retention clean-up and the expiry
scan may run in any process, and the schema is created or upgraded by one process at a
time. Each of these is always on, one code path whether one process or several use the
file: on the bench mix in batches of 500 (``bench/store_write.py``) the write and its
publish cost 1.3 to 3.8 µs of CPU per command more than a store that assumed it was alone
(median 2.0, seven alternating pairs), against 200 to 290 µs for a command's whole loop."""

import contextlib
import secrets
import sqlite3
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

from service.fast.referral import AnyRecord
from service.store import sqlite_reads as reads
from service.store.base import (
    FORGET_PAGE,
    BatchWrite,
    ExpiryCandidate,
    ExpiryPosition,
    OutboxEntry,
    ProcessedCommand,
    Publish,
    in_pages,
)
from service.store.query import Page, ReferralQuery
from service.store.sqlite_connection import SqliteConnections, sqlite_path, transaction
from service.store.sqlite_outbox import SqliteOutbox
from service.store.sqlite_writes import BatchRows, delete_published, write_batch
from service.store.webhooks_sqlite import SqliteWebhooks
from state import CommandKey, ReferralKey, ReferralRecord

__all__ = ["SqliteStore", "sqlite_path"]

#: How long a thread may keep the interpreter's lock while another waits for it, where a
#: batch is written beside the decision: the store's thread takes the lock back after each
#: of a write's dozen statements, and at the default 5 ms each wait held the write up by
#: about half (``docs/performance.md``).
WRITER_SWITCH_INTERVAL: Final = 0.0005


class SqliteStore(SqliteWebhooks):
    """``writes_beside``: a batch is written on the store's thread while the loop decides
    the next, each table by one statement over its rows packed (``sqlite_packed``), since a
    statement per row would wait for the interpreter's lock at every row; that costs CPU
    (the rows go through JSON), so it pays where the machine has a core more than the
    processes deciding (``startup.store_of``). Otherwise a batch is written before the next
    is decided, a table by one ``executemany``."""

    def __init__(self, path: Path, writes_beside: bool = False) -> None:
        self.path = path
        self.writes_beside_decisions = writes_beside
        self._db = SqliteConnections(path)
        self._outbox = SqliteOutbox(self._db)
        super().__init__(self._db)

    async def open(self, migrate: bool = True) -> None:
        if self.writes_beside_decisions:
            sys.setswitchinterval(WRITER_SWITCH_INTERVAL)
        await self._db.open(migrate)

    async def close(self) -> None:
        if self._db.is_open:
            with contextlib.suppress(Exception):  # else the next write of any process does
                await self._db.run(lambda db: _in_transaction(db, delete_published))
        await self._db.close()

    async def load(self, keys: Collection[ReferralKey]) -> dict[ReferralKey, ReferralRecord]:
        return self._db.read_here(lambda db: reads.referrals(db, keys))

    async def seen(self, keys: Collection[CommandKey]) -> set[CommandKey]:
        return self._db.read_here(lambda db: reads.seen(db, keys))

    async def processed(self, key: CommandKey) -> ProcessedCommand | None:
        return self._db.read_here(lambda db: reads.processed(db, key))

    async def load_batch(
        self,
        referrals: Collection[ReferralKey],
        commands: Collection[CommandKey],
        cached: Mapping[ReferralKey, AnyRecord],
    ) -> tuple[dict[ReferralKey, AnyRecord], set[CommandKey]]:
        return self._db.read_here(lambda db: reads.batch_inputs(db, referrals, commands, cached))

    def prepare(self, batch: BatchWrite) -> None:
        batch.prepared = BatchRows.of(batch)

    async def write(self, batch: BatchWrite) -> list[OutboxEntry]:
        prepared = batch.prepared
        rows = prepared if isinstance(prepared, BatchRows) else BatchRows.of(batch)
        packed = self.writes_beside_decisions
        return await self._db.run(lambda db: write_batch(db, rows, packed=packed))

    async def pending(self, partitions: Collection[int] | None = None) -> list[OutboxEntry]:
        return await self._outbox.pending(partitions)

    async def mark_published(self, seqs: Collection[int]) -> None:
        await self._outbox.mark_published(seqs)

    async def publish_in_order(
        self, entries: Sequence[OutboxEntry] | None, publish: Publish
    ) -> None:
        await self._outbox.publish_in_order(entries, publish)

    async def get(self, referral_id: str, tenant_id: str | None = None) -> ReferralRecord | None:
        key = ReferralKey(tenant_id, referral_id)
        return (await self._db.read(lambda db: reads.referrals(db, [key]))).get(key)

    async def query(self, query: ReferralQuery, *, count: bool = False) -> Page:
        return await self._db.read(lambda db: reads.page(db, query, count))

    async def count_by_state(self) -> dict[tuple[str, str], int]:
        return await self._db.read(reads.count_by_state)

    async def outbox_backlog(self) -> int:
        return await self._db.run(
            lambda db: int(
                db.execute(f"SELECT count(*) FROM outbox WHERE {reads.UNPUBLISHED}").fetchone()[0]
            )
        )

    async def due_for_expiry(
        self, now: datetime, limit: int, after: ExpiryPosition | None = None
    ) -> list[ExpiryCandidate]:
        return await self._db.read(lambda db: reads.due_for_expiry(db, now, limit, after))

    async def secret(self, name: str) -> bytes:
        def read_or_make(db: sqlite3.Connection) -> bytes:
            db.execute(
                "INSERT OR IGNORE INTO service_secrets (name, value) VALUES (?, ?)",
                (name, secrets.token_bytes(32)),
            )
            row = db.execute("SELECT value FROM service_secrets WHERE name = ?", (name,))
            return bytes(row.fetchone()[0])

        return await self._db.run(read_or_make)

    async def forget_processed(self, before: datetime, page: int = FORGET_PAGE) -> int:
        def delete(db: sqlite3.Connection) -> int:
            return db.execute(
                "DELETE FROM processed_commands WHERE rowid IN (SELECT rowid"
                " FROM processed_commands WHERE processed_at < ? LIMIT ?)",
                (before.timestamp(), page),
            ).rowcount

        return await in_pages(page, lambda: self._db.run(delete))


def _in_transaction(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], None]) -> None:
    with transaction(db):
        work(db)
