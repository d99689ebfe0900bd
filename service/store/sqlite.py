"""The embedded SQLite store: one file, one replica.

sqlite3 is synchronous, so every call runs on one dedicated thread that owns the
connection; a batch is one function call there, hence one transaction. WAL journal with
``synchronous=FULL`` so a committed batch survives a crash of the process or the host.
"""

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from service.errors import StaleWrite, StoreUnavailable, translated
from service.store.base import BatchWrite, ExpiryCandidate, OutboxEntry, Publish, entry_keys
from service.store.rows import (
    expiration_of,
    expiry_candidate,
    headers_to_text,
    outgoing_from_row,
    referral_document,
    referral_from_row,
)
from service.store.sqlite_schema import prepare
from state import ReferralRecord
from state.fields import format_utc

T = TypeVar("T")


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
    return Path(url.removeprefix("sqlite://").removeprefix("/"))


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None
        #: Outbox rows published but not yet deleted: their deletion rides along with the
        #: next batch's transaction (one fsync fewer per batch). After a crash they are
        #: published again, with the same ids, as for a crash before any deletion.
        self._published: set[int] = set()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._connection is None:
                raise StoreUnavailable("the SQLite store is not open")
            with translated("store"):
                return work(self._connection)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        def connect() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=5000")
            try:
                prepare(connection, self.path)
            except BaseException:
                connection.close()
                raise
            self._connection = connection

        with translated("store"):
            await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # what stays is published again at start
                await self.mark_published(set(self._published))

        def disconnect() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)

    async def load(self, referral_ids: Collection[str]) -> dict[str, ReferralRecord]:
        ids = list(referral_ids)

        def query(db: sqlite3.Connection) -> dict[str, ReferralRecord]:
            found: dict[str, ReferralRecord] = {}
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id, document, tenant_id FROM referrals WHERE id IN ({marks})"
                for referral_id, document, tenant_id in db.execute(sql, chunk):
                    found[referral_id] = referral_from_row(document, tenant_id)
            return found

        return await self._run(query)

    async def seen(self, command_ids: Collection[str]) -> set[str]:
        ids = list(command_ids)

        def query(db: sqlite3.Connection) -> set[str]:
            seen: set[str] = set()
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT command_id FROM processed_commands WHERE command_id IN ({marks})"
                seen.update(row[0] for row in db.execute(sql, chunk))
            return seen

        return await self._run(query)

    async def write(self, batch: BatchWrite) -> list[OutboxEntry]:
        published = list(self._published)
        stored = await self._run(lambda db: _write(db, batch, published))
        self._published.difference_update(published)
        return stored

    async def pending(self, partitions: Collection[int] | None = None) -> list[OutboxEntry]:
        wanted = None if partitions is None else set(partitions)

        def query(db: sqlite3.Connection) -> list[OutboxEntry]:
            return [
                entry
                for entry in _outbox_rows(db, None)
                if (wanted is None or entry.source_partition in wanted)
                and entry.seq not in self._published
            ]

        return await self._run(query)

    async def mark_published(self, seqs: Collection[int]) -> None:
        ordered = list(seqs)
        self._published.difference_update(ordered)

        def delete(db: sqlite3.Connection) -> None:
            with _transaction(db):
                _delete_outbox(db, ordered)

        if ordered:
            await self._run(delete)

    async def publish_in_order(
        self, entries: Sequence[OutboxEntry] | None, publish: Publish
    ) -> None:
        # One replica owns the file and its consume loop publishes one batch at a time, so
        # no lock is needed; older rows of the same keys still go first.
        if entries is None:
            self._published.update(await publish(await self.pending()))
            return
        keys = entry_keys(entries)
        known = {e.seq: e for e in entries}

        def query(db: sqlite3.Connection) -> list[OutboxEntry]:
            seqs = [
                seq
                for seq, key in db.execute("SELECT seq, key FROM outbox ORDER BY seq")
                if (seq in known or (key is not None and key in keys))
                and seq not in self._published
            ]
            others = [seq for seq in seqs if seq not in known]
            fetched = {entry.seq: entry for entry in _outbox_rows(db, others)}
            return [known.get(seq) or fetched[seq] for seq in seqs]

        if entries:
            self._published.update(await publish(await self._run(query)))

    async def get(self, referral_id: str) -> ReferralRecord | None:
        return (await self.load([referral_id])).get(referral_id)

    async def count_by_state(self) -> dict[tuple[str, str], int]:
        def query(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
            sql = "SELECT status, substatus, count(*) FROM referrals GROUP BY status, substatus"
            return {(status, sub): count for status, sub, count in db.execute(sql)}

        return await self._run(query)

    async def outbox_backlog(self) -> int:
        await self.mark_published(set(self._published))
        return await self._run(
            lambda db: int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        )

    async def due_for_expiry(self, now: datetime, limit: int) -> list[ExpiryCandidate]:
        def query(db: sqlite3.Connection) -> list[ExpiryCandidate]:
            rows = db.execute(
                "SELECT document, tenant_id FROM referrals WHERE status = 'New'"
                " AND expiration <= ? ORDER BY expiration LIMIT ?",
                (format_utc(now), limit),
            )
            return [expiry_candidate(doc, tenant) for doc, tenant in rows]

        return await self._run(query)

    async def forget_processed(self, before: datetime) -> int:
        def delete(db: sqlite3.Connection) -> int:
            cutoff = before.timestamp()
            return db.execute(
                "DELETE FROM processed_commands WHERE processed_at < ?", (cutoff,)
            ).rowcount

        return await self._run(delete)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed when the block ends, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


def _write(db: sqlite3.Connection, batch: BatchWrite, published: list[int]) -> list[OutboxEntry]:
    with _transaction(db):
        _delete_outbox(db, published)
        _write_referrals(db, batch)
        _write_processed(db, batch)
        return _write_outbox(db, batch)


def _delete_outbox(db: sqlite3.Connection, seqs: list[int]) -> None:
    for chunk in _chunks(seqs):
        db.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})", chunk)


def _write_referrals(db: sqlite3.Connection, batch: BatchWrite) -> None:
    for write in batch.referrals:
        record = write.record
        row = (
            record.version,
            str(record.state.status),
            str(record.state.substatus),
            record.tenant_id,
            expiration_of(record),
            referral_document(record),
        )
        if write.expected_version == 0:
            try:
                db.execute(
                    "INSERT INTO referrals (version, status, substatus, tenant_id, expiration,"
                    " document, id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*row, record.referral_id),
                )
            except sqlite3.IntegrityError:
                raise StaleWrite(f"referral {record.referral_id} was created meanwhile") from None
        else:
            updated = db.execute(
                "UPDATE referrals SET version = ?, status = ?, substatus = ?, tenant_id = ?,"
                " expiration = ?, document = ? WHERE id = ? AND version = ?",
                (*row, record.referral_id, write.expected_version),
            )
            if updated.rowcount != 1:
                raise StaleWrite(
                    f"referral {record.referral_id} moved past {write.expected_version}"
                )


def _write_processed(db: sqlite3.Connection, batch: BatchWrite) -> None:
    now = time.time()
    try:
        db.executemany(
            "INSERT INTO processed_commands (command_id, referral_id, outcome, processed_at)"
            " VALUES (?, ?, ?, ?)",
            [(p.command_id, p.referral_id, p.outcome, now) for p in batch.processed],
        )
    except sqlite3.IntegrityError:
        raise StaleWrite("a command of the batch was processed meanwhile") from None


def _write_outbox(db: sqlite3.Connection, batch: BatchWrite) -> list[OutboxEntry]:
    now = time.time()
    stored = []
    for entry in batch.outbox:
        out = entry.record
        cursor = db.execute(
            "INSERT INTO outbox (source_partition, topic, key, value, headers, kind, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry.source_partition, out.topic, out.key, out.value, headers_to_text(out.headers),
             out.kind, now),
        )  # fmt: skip
        assert cursor.lastrowid is not None
        stored.append(OutboxEntry(entry.source_partition, out, cursor.lastrowid))
    return stored


def _outbox_rows(db: sqlite3.Connection, seqs: list[int] | None) -> list[OutboxEntry]:
    """Outbox rows oldest first: all of them (``None``), or those of the given seqs."""
    columns = "SELECT seq, source_partition, topic, key, value, headers, kind FROM outbox"
    if seqs is None:
        chunks = [db.execute(f"{columns} ORDER BY seq")]
    else:
        chunks = [
            db.execute(f"{columns} WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
            for chunk in _chunks(seqs)
        ]
    rows = sorted((row for chunk in chunks for row in chunk), key=lambda row: row[0])
    return [OutboxEntry(partition, outgoing_from_row(*rest), seq) for seq, partition, *rest in rows]


def _chunks(items: list[T], size: int = 500) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
