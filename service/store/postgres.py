"""The PostgreSQL store: many replicas share one database.

asyncpg with a connection pool. A batch is one transaction of set-based statements (one
round trip per table, whatever the batch size); referral updates are guarded by the
version they were loaded at, so a replica that lost its partition cannot overwrite the
new owner's work. The schema is migrated at start under an advisory lock, so replicas
starting together migrate once.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from service.errors import StoreUnavailable, translated
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
from service.store.migrations import migrate
from service.store.query import Dialect, Page, ReferralQuery, condition, ordering
from service.store.rows import (
    READ_COLUMN_NAMES,
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
from state import CommandKey, ReferralKey, ReferralRecord

if TYPE_CHECKING:  # the stubs' generics are not subscriptable at run time
    from asyncpg import Record
    from asyncpg.pool import Pool, PoolAcquireContext

    from service.store.migrations import Db

#: How long a statement waits for a row another replica holds (a write or a publish in
#: flight) before the attempt fails and is retried: a stalled replica cannot block others.
LOCK_TIMEOUT = "15s"
#: Outbox rows a backlog drain publishes per transaction.
DRAIN_PAGE = 1000
_OUTBOX_COLUMNS = "seq, source_partition, topic, key, value, headers, kind"
#: The referral columns a write sends, as unnest's typed arrays.
_ROW_TYPES = (
    *("text", "bigint", "text", "text", "text", "timestamptz", "bytea"),
    *("timestamptz", "timestamptz", "text", "text", "text", "text", "text", "text", "text"),
)
_WRITTEN = ("id", "version", "status", "substatus", "tenant_id", "expiration", "document",
            *READ_COLUMN_NAMES)  # fmt: skip
_WRITTEN_NAMES = ", ".join(_WRITTEN)
#: The team's e-mails travel as JSON text (unnest would flatten an array of arrays).
_TEAM_EMAILS = "ARRAY(SELECT json_array_elements_text(u.team_emails::json))"
_WRITTEN_VALUES = ", ".join(_TEAM_EMAILS if n == "team_emails" else f"u.{n}" for n in _WRITTEN)
_READ_SETS = (
    ", ".join(f"{name} = u.{name}" for name in READ_COLUMN_NAMES if name != "team_emails")
    + f", team_emails = {_TEAM_EMAILS}"
)
#: A publish transaction only deletes what Kafka acknowledged: if a crash loses that
#: deletion the rows are published again, with the same ids, so it need not wait for the
#: WAL flush. Begun with that setting in one round trip (the simple query protocol).
_BEGIN_UNFLUSHED = "BEGIN; SET LOCAL synchronous_commit = off"


class PostgresStore:
    #: A batch's write is the server's work: the loop decides the next batch meanwhile.
    writes_beside_decisions = True

    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool: Pool[Record] | None = None

    async def open(self) -> None:
        try:
            with translated("store"):
                self._pool = await asyncpg.create_pool(
                    self.url,
                    min_size=1,
                    max_size=self.pool_size,
                    command_timeout=30,
                    server_settings={"lock_timeout": LOCK_TIMEOUT},
                    reset=_keep_session,
                )
                async with self._pool.acquire() as db:
                    await migrate(db)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _connection(self) -> PoolAcquireContext[Record]:
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        return self._pool.acquire()

    async def _fetch(self, sql: str, *args: object) -> list[Record]:
        with translated("store"):
            async with self._connection() as db:
                return list(await db.fetch(sql, *args))

    async def load(self, keys: Collection[ReferralKey]) -> dict[ReferralKey, ReferralRecord]:
        rows = await self._fetch(
            "SELECT r.document, r.tenant_id FROM referrals r"
            " JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, id) USING (tenant_id, id)",
            *_key_columns(keys),
        )
        records = (referral_from_row(row["document"], row["tenant_id"]) for row in rows)
        return {record.key: record for record in records}

    async def seen(self, keys: Collection[CommandKey]) -> set[CommandKey]:
        rows = await self._fetch(
            "SELECT p.tenant_id, p.command_id FROM processed_commands p JOIN"
            " unnest($1::text[], $2::text[]) AS k(tenant_id, command_id)"
            " USING (tenant_id, command_id)",
            *_key_columns(keys),
        )
        return {CommandKey(tenant_of(row["tenant_id"]), row["command_id"]) for row in rows}

    async def load_batch(
        self,
        referrals: Collection[ReferralKey],
        commands: Collection[CommandKey],
        cached: Mapping[ReferralKey, ReferralRecord],
    ) -> tuple[dict[ReferralKey, ReferralRecord], set[CommandKey]]:
        keys = list(referrals)
        known = [cached[key].version if key in cached else 0 for key in keys]
        rows = await self._fetch(
            "SELECT false AS command, r.tenant_id, r.id,"
            " CASE WHEN r.version = k.version THEN NULL ELSE r.document END AS document"
            " FROM referrals r JOIN unnest($1::text[], $2::text[], $3::bigint[])"
            " AS k(tenant_id, id, version) USING (tenant_id, id)"
            " UNION ALL SELECT true, p.tenant_id, p.command_id, NULL FROM processed_commands p"
            " JOIN unnest($4::text[], $5::text[]) AS c(tenant_id, command_id)"
            " USING (tenant_id, command_id)",
            *_key_columns(keys),
            known,
            *_key_columns(commands),
        )
        loaded: dict[ReferralKey, ReferralRecord] = {}
        seen: set[CommandKey] = set()
        for row in rows:
            tenant = tenant_of(row["tenant_id"])
            if row["command"]:
                seen.add(CommandKey(tenant, row["id"]))
            elif row["document"] is None:
                key = ReferralKey(tenant, row["id"])
                loaded[key] = cached[key]
            else:
                record = referral_from_row(row["document"], row["tenant_id"])
                loaded[record.key] = record
        return loaded, seen

    async def write(self, batch: BatchWrite) -> list[OutboxEntry]:
        with translated("store"):
            async with self._connection() as db:
                return await _write_batch(db, batch)

    async def pending(self, partitions: Collection[int] | None = None) -> list[OutboxEntry]:
        rows = await self._fetch(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox"
            " WHERE $1::int[] IS NULL OR source_partition = ANY($1::int[]) ORDER BY seq",
            None if partitions is None else list(partitions),
        )
        return [_outbox_entry(row) for row in rows]

    async def mark_published(self, seqs: Collection[int]) -> None:
        with translated("store"):
            async with self._connection() as db:
                await _delete_outbox(db, seqs)

    async def publish_in_order(
        self, entries: Sequence[OutboxEntry] | None, publish: Publish
    ) -> None:
        # Row locks taken in seq order make a replica wait for another publishing the
        # same referral, and then skip the rows it deleted; ordered locking cannot deadlock.
        if entries is not None and not entries:
            return
        with translated("store"):
            async with self._connection() as db:
                if entries is None:
                    while await self._publish_page(db, publish) == DRAIN_PAGE:
                        pass
                    return
                async with _unflushed_transaction(db):
                    locked = await db.fetch(
                        "SELECT seq FROM outbox"
                        " WHERE key = ANY($1::bytea[]) OR seq = ANY($2::bigint[])"
                        " ORDER BY seq FOR UPDATE",
                        list(entry_keys(entries)),
                        [e.seq for e in entries if e.record.key is None],
                    )
                    seqs = [row["seq"] for row in locked]
                    known = {e.seq: e for e in entries}
                    others = await _outbox_rows(db, [seq for seq in seqs if seq not in known])
                    ordered = [known.get(seq) or others[seq] for seq in seqs]
                    await _delete_and_commit(db, await publish(ordered))

    async def _publish_page(self, db: Db, publish: Publish) -> int:
        """Publish the oldest page of the backlog; how many of its rows were published."""
        async with _unflushed_transaction(db):
            rows = await db.fetch(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE",
                DRAIN_PAGE,
            )
            published = await publish([_outbox_entry(row) for row in rows])
            await _delete_and_commit(db, published)
        return len(published)

    async def get(self, referral_id: str, tenant_id: str | None = None) -> ReferralRecord | None:
        key = ReferralKey(tenant_id, referral_id)
        return (await self.load([key])).get(key)

    async def query(self, query: ReferralQuery, *, count: bool = False) -> Page:
        dialect = _dialect()
        rows = await self._fetch(
            f"SELECT document, {query.order.name} AS position, tenant_id, id FROM referrals"
            f" WHERE {condition(query, dialect)} ORDER BY {ordering(query, dialect)}"
            f" LIMIT {int(query.limit)}",
            *dialect.params,
        )
        total = None
        if count:
            counting = _dialect()
            where = condition(query, counting, paged=False)
            counted = await self._fetch(f"SELECT count(*) AS n FROM referrals WHERE {where}",
                                        *counting.params)  # fmt: skip
            total = int(counted[0]["n"])
        return Page(
            [bytes(row["document"]) for row in rows],
            [position_of(row["position"], row["tenant_id"], row["id"]) for row in rows],
            total,
        )

    async def count_by_state(self) -> dict[tuple[str, str], int]:
        rows = await self._fetch(COUNT_BY_STATE)
        return {(status, substatus): n for status, substatus, n in rows}

    async def outbox_backlog(self) -> int:
        rows = await self._fetch("SELECT count(*) AS n FROM outbox")
        return int(rows[0]["n"])

    async def due_for_expiry(
        self, now: datetime, limit: int, after: ExpiryPosition | None = None
    ) -> list[ExpiryCandidate]:
        start = (None, "", "") if after is None else (
            after.expiration, tenant_column(after.tenant_id), after.referral_id
        )  # fmt: skip
        rows = await self._fetch(
            "SELECT document, tenant_id, expiration FROM referrals WHERE status = 'New'"
            " AND expiration <= $1 AND ($3::timestamptz IS NULL"
            " OR (expiration, tenant_id, id) > ($3::timestamptz, $4::text, $5::text))"
            " ORDER BY expiration, tenant_id, id LIMIT $2",
            now,
            limit,
            *start,
        )
        return [
            expiry_candidate(row["document"], row["tenant_id"], row["expiration"]) for row in rows
        ]

    async def secret(self, name: str) -> bytes:
        rows = await self._fetch(
            "WITH made AS (INSERT INTO service_secrets (name, value) VALUES ($1, $2)"
            " ON CONFLICT (name) DO NOTHING RETURNING value)"
            " SELECT value FROM made UNION ALL SELECT value FROM service_secrets WHERE name = $1",
            name,
            secrets.token_bytes(32),
        )
        if not rows:  # another replica made it at the same moment: read what it made
            rows = await self._fetch("SELECT value FROM service_secrets WHERE name = $1", name)
        return bytes(rows[0]["value"])

    async def forget_processed(self, before: datetime, page: int = FORGET_PAGE) -> int:
        async def delete() -> int:
            rows = await self._fetch(
                "WITH gone AS (DELETE FROM processed_commands WHERE ctid IN (SELECT ctid"
                " FROM processed_commands WHERE processed_at < $1 LIMIT $2) RETURNING 1)"
                " SELECT count(*) AS n FROM gone",
                before,
                page,
            )
            return int(rows[0]["n"])

        return await in_pages(page, delete)


@contextlib.asynccontextmanager
async def _unflushed_transaction(db: Db) -> AsyncIterator[None]:
    """A transaction that commits without waiting for the WAL flush; rolled back when the
    block raises (a connection too broken to roll back is dropped by the pool)."""
    await db.execute(_BEGIN_UNFLUSHED)
    try:
        yield
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


async def _keep_session(db: Db) -> None:
    """A released connection's session is kept as it is: the service changes no session
    state (its settings are SET LOCAL, its advisory lock transaction-scoped, and asyncpg
    rolls back a transaction left open), so the default reset's extra round trip (RESET
    ALL, UNLISTEN *, CLOSE ALL) on every release is saved."""


def _dialect() -> Dialect:
    return Dialect(
        placeholder=lambda n: f"${n}",
        time_value=lambda value: value,
        team_member=lambda mark: f"team_emails @> ARRAY[{mark}::text]",
    )


async def _outbox_rows(db: Db, seqs: list[int]) -> dict[int, OutboxEntry]:
    if not seqs:
        return {}
    rows = await db.fetch(
        f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE seq = ANY($1::bigint[])", seqs
    )
    return {row["seq"]: _outbox_entry(row) for row in rows}


async def _delete_outbox(db: Db, seqs: Collection[int]) -> None:
    if seqs:
        await db.execute("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", list(seqs))


def _outbox_entry(row: Record) -> OutboxEntry:
    record = outgoing_from_row(row["topic"], row["key"], row["value"], row["headers"], row["kind"])
    return OutboxEntry(row["source_partition"], record, row["seq"])


def _marks(first: int, types: Iterable[str]) -> str:
    """``$n::type[]`` placeholders for unnest, numbered from ``first``."""
    return ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(types, start=first))


_REFERRAL_ARRAYS = len(_ROW_TYPES)
_NEW, _CHANGED = 1, 1 + _REFERRAL_ARRAYS
_EXPECTED = _CHANGED + _REFERRAL_ARRAYS
_PROCESSED = _EXPECTED + 1
_OUTBOX = _PROCESSED + 4
_COUNTS = _OUTBOX + 6
#: A batch in one statement, its own transaction, so one round trip: the new referrals
#: (none may exist yet), the changed ones (each still at the version it was read at), the
#: processed commands (none seen before) and the outbox rows, numbered in batch order from
#: the sequence. When another replica wrote one of those rows first, the statement refuses
#: itself (so nothing of it is written), naming the part that fell short. It answers with
#: the outbox seqs.
_WRITE_BATCH = (
    "WITH new AS (INSERT INTO referrals"
    f" ({_WRITTEN_NAMES}) SELECT {_WRITTEN_VALUES}"
    f" FROM unnest({_marks(_NEW, _ROW_TYPES)}) AS u({_WRITTEN_NAMES})"
    " ON CONFLICT (tenant_id, id) DO NOTHING RETURNING 1),"
    " changed AS (UPDATE referrals r SET version = u.version, status = u.status,"
    " substatus = u.substatus, expiration = u.expiration, document = u.document,"
    f" {_READ_SETS} FROM unnest({_marks(_CHANGED, _ROW_TYPES)}, ${_EXPECTED}::bigint[])"
    f" AS u({_WRITTEN_NAMES}, expected)"
    " WHERE r.tenant_id = u.tenant_id AND r.id = u.id AND r.version = u.expected"
    " RETURNING 1),"
    " processed AS (INSERT INTO processed_commands"
    " (tenant_id, command_id, referral_id, outcome)"
    f" SELECT * FROM unnest({_marks(_PROCESSED, ('text',) * 4)})"
    " ON CONFLICT (tenant_id, command_id) DO NOTHING RETURNING 1),"
    # The k-th smallest seq taken goes to the k-th entry, however nextval was evaluated.
    " taken AS (SELECT nextval(pg_get_serial_sequence('outbox', 'seq')) AS seq"
    f" FROM generate_series(1, cardinality(${_OUTBOX}::int[]))),"
    " numbered AS (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM taken),"
    " outbox AS (INSERT INTO outbox (seq, source_partition, topic, key, value, headers, kind)"
    " SELECT numbered.seq, o.source_partition, o.topic, o.key, o.value, o.headers, o.kind"
    f" FROM unnest({_marks(_OUTBOX, ('int', 'text', 'bytea', 'bytea', 'text', 'text'))})"
    " WITH ORDINALITY AS o(source_partition, topic, key, value, headers, kind, n)"
    " JOIN numbered USING (n) RETURNING 1)"
    " SELECT referrals_stale_write(CASE"
    f" WHEN (SELECT count(*) FROM new) <> ${_COUNTS} THEN"
    " 'a referral of the batch was created meanwhile'"
    f" WHEN (SELECT count(*) FROM changed) <> ${_COUNTS + 1} THEN"
    " 'a referral of the batch moved on meanwhile (another replica)'"
    f" WHEN (SELECT count(*) FROM processed) <> ${_COUNTS + 2} THEN"
    " 'a command of the batch was processed meanwhile (another replica)' END) AS stale,"
    " (SELECT count(*) FROM outbox) AS stored, ARRAY(SELECT seq FROM numbered ORDER BY n) AS seqs"
)


async def _write_batch(db: Db, batch: BatchWrite) -> list[OutboxEntry]:
    new = [w.record for w in batch.referrals if w.expected_version == 0]
    changed = [w for w in batch.referrals if w.expected_version != 0]
    records = [entry.record for entry in batch.outbox]
    row = await db.fetchrow(
        _WRITE_BATCH,
        *_columns(new),
        *_columns(w.record for w in changed),
        [w.expected_version for w in changed],
        [tenant_column(p.tenant_id) for p in batch.processed],
        [p.command_id for p in batch.processed],
        [p.referral_id for p in batch.processed],
        [p.outcome for p in batch.processed],
        [entry.source_partition for entry in batch.outbox],
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [headers_to_text(r.headers) for r in records],
        [r.kind for r in records],
        len(new),
        len(changed),
        len(batch.processed),
    )
    assert row is not None
    assert row["stored"] == len(batch.outbox)
    return [
        OutboxEntry(entry.source_partition, entry.record, seq)
        for entry, seq in zip(batch.outbox, row["seqs"], strict=True)
    ]


def _columns(records: Iterable[ReferralRecord]) -> list[list[object]]:
    rows = [
        (
            r.referral_id,
            r.version,
            r.state.status.value,
            r.state.substatus.value,
            tenant_column(r.tenant_id),
            r.referral.expiration_date_time,
            referral_document(r),
            *_read_row(r),
        )
        for r in records
    ]
    if not rows:
        return [[] for _ in _ROW_TYPES]
    return [list(column) for column in zip(*rows, strict=True)]


def _read_row(record: ReferralRecord) -> tuple[object, ...]:
    """The read columns of ``record`` in the order of ``READ_COLUMN_NAMES``."""
    c = read_columns(record)
    return (
        c.created,
        c.updated,
        c.engagement_id,
        c.external_reference_id,
        c.type,
        c.qualification,
        c.country,
        c.direction,
        dumps(c.team_emails).decode(),
    )


def _key_columns(keys: Collection[tuple[str | None, str]]) -> tuple[list[str], list[str]]:
    """A collection of (tenant, id) keys as the two arrays ``unnest`` joins on."""
    return [tenant_column(tenant) for tenant, _ in keys], [name for _, name in keys]
