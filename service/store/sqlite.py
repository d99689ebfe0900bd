"""The embedded SQLite store: one file, one replica.

sqlite3 is synchronous, so every write runs on one dedicated thread that owns the
writing connection; a batch is one function call there, hence one transaction. WAL journal
with ``synchronous=FULL`` so a committed batch survives a crash of the process or the host.

The consume loop's reads (a batch's referrals and command ids) run on the loop's own
thread, through a read-only connection of their own: they are a few indexed lookups, which
cost less than handing them to a thread and back (measured: ~80 µs against ~260 for one
referral), and under WAL they read the last commit, which the loop's own writes have
reached before it reads again.
"""

import asyncio
import contextlib
import secrets
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from service.errors import ConfigurationError, StaleWrite, StoreUnavailable, translated
from service.jsonio import dumps
from service.store.base import (
    COUNT_BY_STATE,
    FORGET_PAGE,
    BatchWrite,
    ExpiryCandidate,
    ExpiryPosition,
    OutboxEntry,
    Publish,
    entry_keys,
    in_pages,
)
from service.store.query import (
    All,
    Dialect,
    Filter,
    Page,
    ReferralQuery,
    TeamMember,
    condition,
    ordering,
)
from service.store.rows import (
    READ_COLUMN_NAMES,
    ReadColumns,
    expiration_of,
    expiry_candidate,
    headers_to_text,
    outgoing_from_row,
    position_of,
    read_columns,
    referral_document,
    referral_from_row,
    tenant_column,
    tenant_of,
)
from service.store.sqlite_schema import prepare
from state import CommandKey, ReferralKey, ReferralRecord
from state.fields import format_utc, parse_utc

T = TypeVar("T")
_ON_KEY = "JOIN referrals r ON (r.tenant_id, r.id) = (k.t, k.i)"
_REFERRALS_BY_KEY = f"SELECT r.document, r.tenant_id FROM {{keys}} {_ON_KEY}"
_VERSIONS_BY_KEY = f"SELECT r.tenant_id, r.id, r.version FROM {{keys}} {_ON_KEY}"
_SEEN_BY_KEY = (
    "SELECT p.tenant_id, p.command_id FROM {keys} JOIN processed_commands p"
    " ON (p.tenant_id, p.command_id) = (k.t, k.i)"
)


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
    return Path(url.removeprefix("sqlite://").removeprefix("/"))


class SqliteStore:
    #: A write's statements each bind a chunk of rows at once, but its SQLite work beside
    #: a decision still competes with it for the interpreter's lock and, on two cores
    #: shared with the broker, for the cores: beside was measured no faster than in turn.
    writes_beside_decisions = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None
        #: Reads outside the consume loop (the read API, state counts, the expiry scan) go
        #: through a read-only connection and thread of their own: under WAL they read the
        #: last commit beside the writer, so a scan of a large table never holds up a batch.
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._reader: sqlite3.Connection | None = None
        #: The consume loop's reads, on the loop's thread (module docstring).
        self._loop_reader: sqlite3.Connection | None = None
        #: Outbox rows published but not yet deleted: their deletion rides along with the
        #: next batch's transaction (one fsync fewer per batch). After a crash they are
        #: published again, with the same ids, as for a crash before any deletion.
        self._published: set[int] = set()
        #: Outbox rows this process wrote and has not published; None until a drain of
        #: the whole outbox has shown what an earlier process left. While it is known to
        #: hold nothing but a batch's own rows, that batch is published without reading
        #: the outbox for older rows of its referrals.
        self._unpublished: set[int] | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._on(self._executor, lambda: self._connection, work)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._on(self._reads, lambda: self._reader, work)

    def _read_here(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the loop's read connection, on this thread, in one read transaction
        (one snapshot for all its statements)."""
        db = self._loop_reader
        if db is None:
            raise StoreUnavailable("the SQLite store is not open")
        with translated("store"):
            db.execute("BEGIN")
            try:
                return work(db)
            finally:
                db.rollback()  # it only read

    @staticmethod
    async def _on(
        thread: ThreadPoolExecutor,
        connection: Callable[[], sqlite3.Connection | None],
        work: Callable[[sqlite3.Connection], T],
    ) -> T:
        def call() -> T:
            db = connection()
            if db is None:
                raise StoreUnavailable("the SQLite store is not open")
            with translated("store"):
                return work(db)

        return await asyncio.get_running_loop().run_in_executor(thread, call)

    async def open(self) -> None:
        def connect() -> None:
            _refuse_old_sqlite(sqlite3.sqlite_version_info)
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

        loop = asyncio.get_running_loop()
        with translated("store"):
            await loop.run_in_executor(self._executor, connect)
            try:
                self._reader = await loop.run_in_executor(self._reads, self._read_only)
                self._loop_reader = self._read_only()
            except BaseException:
                await loop.run_in_executor(self._reads, self._disconnect_reader)
                await loop.run_in_executor(self._executor, self._disconnect)
                raise

    def _read_only(self) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        reader = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        reader.execute("PRAGMA busy_timeout=5000")
        return reader

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # what stays is published again at start
                await self.mark_published(set(self._published))
        if self._loop_reader is not None:
            self._loop_reader.close()
            self._loop_reader = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._reads, self._disconnect_reader)
        self._reads.shutdown(wait=True)
        await loop.run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=True)

    def _disconnect_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def load(self, keys: Collection[ReferralKey]) -> dict[ReferralKey, ReferralRecord]:
        return self._read_here(lambda db: _referrals(db, keys))

    async def seen(self, keys: Collection[CommandKey]) -> set[CommandKey]:
        return self._read_here(lambda db: _seen(db, keys))

    async def load_batch(
        self,
        referrals: Collection[ReferralKey],
        commands: Collection[CommandKey],
        cached: Mapping[ReferralKey, ReferralRecord],
    ) -> tuple[dict[ReferralKey, ReferralRecord], set[CommandKey]]:
        def query(
            db: sqlite3.Connection,
        ) -> tuple[dict[ReferralKey, ReferralRecord], set[CommandKey]]:
            loaded: dict[ReferralKey, ReferralRecord] = {}
            stale: list[ReferralKey] = []
            for tenant, referral_id, version in _by_pairs(db, _VERSIONS_BY_KEY, referrals):
                key = ReferralKey(tenant_of(tenant), referral_id)
                hit = cached.get(key)
                if hit is not None and hit.version == version:
                    loaded[key] = hit
                else:
                    stale.append(key)
            return loaded | _referrals(db, stale), _seen(db, commands)

        return self._read_here(query)

    async def write(self, batch: BatchWrite) -> list[OutboxEntry]:
        published = list(self._published)
        rows = _BatchRows.of(batch)
        stored = await self._run(lambda db: _write(db, rows, published))
        self._published.difference_update(published)
        if self._unpublished is not None:
            self._unpublished.update(entry.seq for entry in stored)
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
        keys = entry_keys(entries)

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

        self._published_now(await publish(await self._run(query)))

    def _published_now(self, seqs: Collection[int]) -> None:
        self._published.update(seqs)
        if self._unpublished is not None:
            self._unpublished.difference_update(seqs)

    async def get(self, referral_id: str, tenant_id: str | None = None) -> ReferralRecord | None:
        key = ReferralKey(tenant_id, referral_id)
        return (await self._read(lambda db: _referrals(db, [key]))).get(key)

    async def query(self, query: ReferralQuery, *, count: bool = False) -> Page:
        def read(db: sqlite3.Connection) -> Page:
            dialect = _dialect(query)
            rows = db.execute(
                f"SELECT document, {query.order.name}, tenant_id, id FROM referrals"
                f" WHERE {condition(query, dialect)} ORDER BY {ordering(query, dialect)}"
                f" LIMIT {int(query.limit)}",
                dialect.params,
            ).fetchall()
            total = _count(db, query) if count else None
            positions = [position_of(value, tenant, name) for _, value, tenant, name in rows]
            return Page([bytes(row[0]) for row in rows], positions, total)

        return await self._read(read)

    async def count_by_state(self) -> dict[tuple[str, str], int]:
        def query(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
            return {(status, sub): n for status, sub, n in db.execute(COUNT_BY_STATE)}

        return await self._read(query)

    async def outbox_backlog(self) -> int:
        await self.mark_published(set(self._published))
        return await self._run(
            lambda db: int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        )

    async def due_for_expiry(
        self, now: datetime, limit: int, after: ExpiryPosition | None = None
    ) -> list[ExpiryCandidate]:
        start = ("", "", "") if after is None else (
            format_utc(after.expiration), tenant_column(after.tenant_id), after.referral_id
        )  # fmt: skip

        def query(db: sqlite3.Connection) -> list[ExpiryCandidate]:
            rows = db.execute(
                "SELECT document, tenant_id, expiration FROM referrals WHERE status = 'New'"
                " AND expiration <= ? AND (expiration, tenant_id, id) > (?, ?, ?)"
                " ORDER BY expiration, tenant_id, id LIMIT ?",
                (format_utc(now), *start, limit),
            )
            return [expiry_candidate(doc, tenant, parse_utc(at)) for doc, tenant, at in rows]

        return await self._read(query)

    async def secret(self, name: str) -> bytes:
        def read_or_make(db: sqlite3.Connection) -> bytes:
            db.execute(
                "INSERT OR IGNORE INTO service_secrets (name, value) VALUES (?, ?)",
                (name, secrets.token_bytes(32)),
            )
            row = db.execute("SELECT value FROM service_secrets WHERE name = ?", (name,))
            return bytes(row.fetchone()[0])

        return await self._run(read_or_make)

    async def forget_processed(self, before: datetime, page: int = FORGET_PAGE) -> int:
        def delete(db: sqlite3.Connection) -> int:
            return db.execute(
                "DELETE FROM processed_commands WHERE rowid IN (SELECT rowid"
                " FROM processed_commands WHERE processed_at < ? LIMIT ?)",
                (before.timestamp(), page),
            ).rowcount

        return await in_pages(page, lambda: self._run(delete))


def _dialect(query: ReferralQuery) -> Dialect:
    """Numbered parameters (``?N``), so a condition may add one out of text order."""
    # When every match is on a given team, those few are found through the team table and
    # sorted, rather than found by walking the whole order index.
    dialect = Dialect(
        placeholder=lambda n: f"?{n}",
        time_value=format_utc,
        team_member=str,
        indexed_order=not _on_a_team(query.where),
    )
    if query.tenant_id is None:
        dialect.team_member = lambda mark: (
            f"(tenant_id, id) IN (SELECT tenant_id, referral_id FROM referral_team"
            f" WHERE email = {mark})"
        )
    else:
        tenant = query.tenant_id
        dialect.team_member = lambda mark: (
            f"id IN (SELECT referral_id FROM referral_team"
            f" WHERE email = {mark} AND tenant_id = {dialect.param(tenant)})"
        )
    return dialect


def _on_a_team(where: Filter | None) -> bool:
    if isinstance(where, TeamMember):
        return True
    return isinstance(where, All) and any(_on_a_team(o) for o in where.operands)


def _count(db: sqlite3.Connection, query: ReferralQuery) -> int:
    dialect = _dialect(query)
    sql = f"SELECT count(*) FROM referrals WHERE {condition(query, dialect, paged=False)}"
    return int(db.execute(sql, dialect.params).fetchone()[0])


#: UPDATE … FROM (3.33) and statements of a chunk's rows (up to 32,766 values, 3.32).
OLDEST_SQLITE: Final = (3, 33, 0)


def _refuse_old_sqlite(version: tuple[int, int, int]) -> None:
    # At start, not at the first batch, where every statement would fail as if each
    # batch were poison.
    if version < OLDEST_SQLITE:
        raise ConfigurationError(
            f"the SQLite store needs SQLite {'.'.join(map(str, OLDEST_SQLITE))} or newer;"
            f" this Python's sqlite3 module uses {'.'.join(map(str, version))}"
        )


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


def _write(db: sqlite3.Connection, rows: "_BatchRows", published: list[int]) -> list[OutboxEntry]:
    with _transaction(db):
        _delete_outbox(db, published)
        _write_referrals(db, rows)
        try:
            _insert(db, _PROCESSED_INTO, rows.processed)
        except sqlite3.IntegrityError:
            raise StaleWrite("a command of the batch was processed meanwhile") from None
        return _write_outbox(db, rows)


def _delete_outbox(db: sqlite3.Connection, seqs: list[int]) -> None:
    for chunk in _power_of_two_chunks(seqs):
        db.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})", chunk)


@dataclass(slots=True)
class _BatchRows:
    """A batch's rows, built on the consume loop's thread, so that the store's thread only
    runs statements: each binds a chunk of rows at once and steps once (statements that
    step once per row would take the interpreter's lock back once per row)."""

    created: list[tuple[object, ...]] = field(default_factory=list)
    updated: list[tuple[object, ...]] = field(default_factory=list)
    #: Referral ids whose team rows are replaced, by tenant column.
    replaced_teams: dict[str, list[str]] = field(default_factory=dict)
    teams: list[tuple[object, ...]] = field(default_factory=list)
    processed: list[tuple[object, ...]] = field(default_factory=list)
    outbox: list[tuple[object, ...]] = field(default_factory=list)
    entries: list[OutboxEntry] = field(default_factory=list)

    @classmethod
    def of(cls, batch: BatchWrite) -> "_BatchRows":
        rows = cls()
        for write in batch.referrals:
            record = write.record
            columns = read_columns(record)
            tenant = tenant_column(record.tenant_id)
            row = (
                record.version,
                str(record.state.status),
                str(record.state.substatus),
                expiration_of(record),
                referral_document(record),
                *_read_row(columns),
                tenant,
                record.referral_id,
            )
            if write.expected_version == 0:
                rows.created.append(row)
            else:
                rows.updated.append((*row, write.expected_version))
                rows.replaced_teams.setdefault(tenant, []).append(record.referral_id)
            rows.teams += [(email, tenant, record.referral_id) for email in columns.team_emails]
        now = time.time()
        rows.processed = [
            (tenant_column(p.tenant_id), p.command_id, p.referral_id, p.outcome, now)
            for p in batch.processed
        ]
        rows.outbox = [
            (entry.source_partition, entry.record.topic, entry.record.key, entry.record.value,
             headers_to_text(entry.record.headers), entry.record.kind, now)
            for entry in batch.outbox
        ]  # fmt: skip
        rows.entries = list(batch.outbox)
        return rows


_REFERRAL_COLUMNS = ("version", "status", "substatus", "expiration", "document",
                     *READ_COLUMN_NAMES, "tenant_id", "id")  # fmt: skip
_REFERRALS_INTO = f"referrals ({', '.join(_REFERRAL_COLUMNS)})"
_PROCESSED_INTO = "processed_commands (tenant_id, command_id, referral_id, outcome, processed_at)"
_TEAM_INTO = "referral_team (email, tenant_id, referral_id)"
_OUTBOX_INTO = "outbox (source_partition, topic, key, value, headers, kind, created_at)"
#: A referral's row at a new version, where it is still at the version it was read at.
_UPDATE_REFERRALS = (
    "UPDATE referrals SET "
    + ", ".join(f"{name} = v.{name}" for name in _REFERRAL_COLUMNS[:-2])
    + " FROM (SELECT "
    + ", ".join(f"column{i + 1} AS {name}" for i, name in enumerate(_REFERRAL_COLUMNS))
    + f", column{len(_REFERRAL_COLUMNS) + 1} AS expected FROM (VALUES {{rows}})) AS v"
    " WHERE referrals.tenant_id = v.tenant_id AND referrals.id = v.id"
    " AND referrals.version = v.expected"
)


def _values(chunk: list[tuple[object, ...]]) -> tuple[str, list[object]]:
    """A VALUES list of the chunk's rows and its parameters, flat."""
    row = f"({','.join('?' * len(chunk[0]))})"
    return ",".join([row] * len(chunk)), [value for values in chunk for value in values]


def _insert(db: sqlite3.Connection, into: str, rows: list[tuple[object, ...]]) -> None:
    for chunk in _power_of_two_chunks(rows):
        marks, values = _values(chunk)
        db.execute(f"INSERT INTO {into} VALUES {marks}", values)


def _write_referrals(db: sqlite3.Connection, rows: _BatchRows) -> None:
    """Every referral of the batch in a few statements: new ones inserted, the others
    updated only where still at the version they were read at."""
    try:
        _insert(db, _REFERRALS_INTO, rows.created)
    except sqlite3.IntegrityError:
        raise StaleWrite("a referral of the batch was created meanwhile") from None
    for chunk in _power_of_two_chunks(rows.updated):
        marks, values = _values(chunk)
        cursor = db.execute(_UPDATE_REFERRALS.format(rows=marks), values)
        if cursor.rowcount != len(chunk):
            stale = len(chunk) - cursor.rowcount
            raise StaleWrite(f"{stale} referral(s) of the batch moved past the version read")
    for tenant, ids in rows.replaced_teams.items():
        for some in _power_of_two_chunks(ids):
            db.execute(
                "DELETE FROM referral_team WHERE tenant_id = ?"
                f" AND referral_id IN ({','.join('?' * len(some))})",
                [tenant, *some],
            )
    _insert(db, _TEAM_INTO, rows.teams)


def _read_row(columns: ReadColumns) -> tuple[object, ...]:
    """The read columns in the order of ``READ_COLUMN_NAMES``."""
    return (
        format_utc(columns.created),
        format_utc(columns.updated),
        columns.engagement_id,
        columns.external_reference_id,
        columns.type,
        columns.qualification,
        columns.country,
        columns.direction,
        dumps(columns.team_emails).decode(),
    )


def _write_outbox(db: sqlite3.Connection, rows: _BatchRows) -> list[OutboxEntry]:
    """The batch's records, a multi-row insert per chunk, numbered in the order of VALUES."""
    seqs: list[int] = []
    for chunk in _power_of_two_chunks(rows.outbox):
        marks, values = _values(chunk)
        last = db.execute(f"INSERT INTO {_OUTBOX_INTO} VALUES {marks}", values).lastrowid
        assert last is not None
        first = last - len(chunk) + 1
        # New seqs are above every earlier one, so n of them up to the last are these rows.
        (count,) = db.execute(
            "SELECT count(*) FROM outbox WHERE seq BETWEEN ? AND ?", (first, last)
        ).fetchone()
        assert count == len(chunk), "outbox rows not numbered in one run"
        seqs += range(first, last + 1)
    return [
        OutboxEntry(entry.source_partition, entry.record, seq)
        for entry, seq in zip(rows.entries, seqs, strict=True)
    ]


def _outbox_rows(db: sqlite3.Connection, seqs: list[int] | None) -> list[OutboxEntry]:
    """Outbox rows oldest first: all of them (``None``), or those of the given seqs."""
    columns = "SELECT seq, source_partition, topic, key, value, headers, kind FROM outbox"
    if seqs is None:
        chunks = [db.execute(f"{columns} ORDER BY seq")]
    else:
        chunks = [
            db.execute(f"{columns} WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
            for chunk in _power_of_two_chunks(seqs)
        ]
    rows = sorted((row for chunk in chunks for row in chunk), key=lambda row: row[0])
    return [OutboxEntry(partition, outgoing_from_row(*rest), seq) for seq, partition, *rest in rows]


def _referrals(
    db: sqlite3.Connection, keys: Collection[ReferralKey]
) -> dict[ReferralKey, ReferralRecord]:
    records = (referral_from_row(*row) for row in _by_pairs(db, _REFERRALS_BY_KEY, keys))
    return {record.key: record for record in records}


def _seen(db: sqlite3.Connection, keys: Collection[CommandKey]) -> set[CommandKey]:
    rows = _by_pairs(db, _SEEN_BY_KEY, keys)
    return {CommandKey(tenant_of(tenant), command_id) for tenant, command_id in rows}


def _by_pairs(
    db: sqlite3.Connection, sql: str, keys: Collection[tuple[str | None, str]]
) -> Iterator[Any]:
    """Rows of ``sql`` for the (tenant, id) ``keys``, a chunk at a time: ``{keys}`` in it is
    the table k(t, i) of one chunk, to be joined on the primary key (a row-value ``IN``
    would scan the whole table)."""
    pairs = [(tenant_column(tenant), name) for tenant, name in keys]
    for chunk in _power_of_two_chunks(pairs):
        marks = ",".join("(?, ?)" for _ in chunk)
        table = f"(SELECT column1 AS t, column2 AS i FROM (VALUES {marks})) AS k"
        yield from db.execute(sql.format(keys=table), [v for p in chunk for v in p])


def _power_of_two_chunks(items: list[T], largest: int = 256) -> Iterator[list[T]]:
    """``items`` in chunks of 256, 128, ... 1: a statement with a list of values is compiled
    and cached per length of the list, so only these nine ever are (not one per size)."""
    start, size = 0, largest
    while start < len(items):
        while size > len(items) - start:
            size //= 2
        yield items[start : start + size]
        start += size
