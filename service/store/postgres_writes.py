"""How a batch becomes PostgreSQL statements: every row of its state sent as typed arrays
that ``unnest`` turns back into rows, so its state is one statement whatever its size; a
small batch's outbox rows go in the same statement (one round trip), a large batch's are
copied in after it (COPY), in the same transaction. The webhook deliveries of its events
are part of the state's statement."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from service.fast.referral import AnyRecord
from service.fast.referral import moment as parse_moment
from service.store.base import BatchWrite, OutboxEntry
from service.store.columns import READ_COLUMNS, ReadColumn, Storage, read_values
from service.store.rows import (
    expiration_moment,
    headers_to_text,
    read_row,
    referral_document,
    tenant_column,
)
from service.webhooks.notices import notices_of
from state.fields import format_utc

if TYPE_CHECKING:
    from service.store.migrations import Db

#: The type of each read column's array: the team's e-mails travel as JSON text (unnest
#: would flatten an array of arrays).
_ARRAY_TYPES = {Storage.TEXT: "text", Storage.TIME: "timestamptz", Storage.EMAILS: "text"}
#: The referral columns a write sends, as unnest's typed arrays.
_ROW_TYPES = (
    *("text", "bigint", "text", "text", "text", "timestamptz", "bytea"),
    *(_ARRAY_TYPES[column.storage] for column in READ_COLUMNS),
)
_WRITTEN = ("id", "version", "status", "substatus", "tenant_id", "expiration", "document",
            *(column.name for column in READ_COLUMNS))  # fmt: skip
_WRITTEN_NAMES = ", ".join(_WRITTEN)


def _written(column: ReadColumn) -> str:
    """The column's value from the unnested row ``u``."""
    if column.storage is Storage.EMAILS:
        return f"ARRAY(SELECT json_array_elements_text(u.{column.name}::json))"
    return f"u.{column.name}"


_WRITTEN_VALUES = ", ".join(
    (*(f"u.{name}" for name in _WRITTEN[: -len(READ_COLUMNS)]), *map(_written, READ_COLUMNS))
)
_READ_SETS = ", ".join(f"{column.name} = {_written(column)}" for column in READ_COLUMNS)


def _marks(first: int, types: Iterable[str]) -> str:
    """``$n::type[]`` placeholders for unnest, numbered from ``first``."""
    return ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(types, start=first))


_REFERRAL_ARRAYS = len(_ROW_TYPES)
_NEW, _CHANGED = 1, 1 + _REFERRAL_ARRAYS
_EXPECTED = _CHANGED + _REFERRAL_ARRAYS
_PROCESSED = _EXPECTED + 1
_NOTICES = _PROCESSED + 5
_READ = _NOTICES + 4
_COUNTS = _READ + 3
_OUTBOX = _COUNTS + 4
#: A batch's state: the new referrals (none may exist yet), the changed ones (each still
#: at the version it was read at) and the processed commands (none seen before).
_STATE = (
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
    " (tenant_id, command_id, referral_id, outcome, rejection)"
    f" SELECT * FROM unnest({_marks(_PROCESSED, ('text',) * 5)})"
    " ON CONFLICT (tenant_id, command_id) DO NOTHING RETURNING 1),"
    # The webhook deliveries of the batch's events, for the registrations that ask for
    # them: a join with an empty table where none exists, in the same round trip.
    " webhooks AS (INSERT INTO webhook_deliveries"
    " (tenant_id, referral_id, event, changed_at, state)"
    " SELECT n.tenant_id, n.referral_id, n.event, n.changed_at,"
    " CASE r.state WHEN 'failing' THEN 'parked' ELSE 'pending' END"
    f" FROM unnest({_marks(_NOTICES, ('text',) * 4)}) WITH ORDINALITY"
    " AS n(tenant_id, referral_id, event, changed_at, k) JOIN webhook_registrations r"
    " ON r.tenant_id = n.tenant_id AND n.event = ANY(r.events) ORDER BY n.k),"
    # The referrals the decision read and the batch does not write, still as it read them
    # (version 0: absent); the statement's one snapshot is the one the other parts see.
    " read AS (SELECT 1 FROM unnest("
    f"${_READ}::text[], ${_READ + 1}::text[], ${_READ + 2}::bigint[]) AS k(tenant_id, id, version)"
    " LEFT JOIN referrals r USING (tenant_id, id) WHERE COALESCE(r.version, 0) = k.version)"
)
#: When another replica wrote one of the state's rows first, the statement refuses itself
#: (so nothing of it is written), naming the part that fell short.
_REFUSAL = (
    " SELECT referrals_stale_write(CASE"
    f" WHEN (SELECT count(*) FROM new) <> ${_COUNTS} THEN"
    " 'a referral of the batch was created meanwhile'"
    f" WHEN (SELECT count(*) FROM changed) <> ${_COUNTS + 1} THEN"
    " 'a referral of the batch moved on meanwhile (another replica)'"
    f" WHEN (SELECT count(*) FROM processed) <> ${_COUNTS + 2} THEN"
    " 'a command of the batch was processed meanwhile (another replica)'"
    f" WHEN (SELECT count(*) FROM read) <> ${_COUNTS + 3} THEN"
    " 'a referral the batch read moved on meanwhile' END) AS stale"
)
#: A small batch in one statement, its own transaction, so one round trip: the state and
#: the outbox rows, numbered in batch order from the sequence; it answers with their seqs.
_WRITE_IN_ONE = (
    _STATE
    # The k-th smallest seq taken goes to the k-th entry, however nextval was evaluated.
    + ", taken AS (SELECT nextval(pg_get_serial_sequence('outbox', 'seq')) AS seq"
    f" FROM generate_series(1, cardinality(${_OUTBOX}::int[]))),"
    " numbered AS (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM taken),"
    " outbox AS (INSERT INTO outbox (seq, source_partition, topic, key, value, headers, kind)"
    " SELECT numbered.seq, o.source_partition, o.topic, o.key, o.value, o.headers, o.kind"
    f" FROM unnest({_marks(_OUTBOX, ('int', 'text', 'bytea', 'bytea', 'text', 'text'))})"
    " WITH ORDINALITY AS o(source_partition, topic, key, value, headers, kind, n)"
    " JOIN numbered USING (n) RETURNING 1)"
    + _REFUSAL
    + ", (SELECT count(*) FROM outbox) AS stored,"
    " ARRAY(SELECT seq FROM numbered ORDER BY n) AS seqs"
)
#: A large batch's state, answering with as many seqs of the outbox as it has rows.
_WRITE_STATE = (
    _STATE + _REFUSAL + ", ARRAY(SELECT nextval(pg_get_serial_sequence('outbox', 'seq'))"
    f" FROM generate_series(1, ${_OUTBOX}::int)) AS seqs"
)
_OUTBOX_COLUMNS = ("seq", "source_partition", "topic", "key", "value", "headers", "kind")
#: The outbox rows from which a batch's are copied in (COPY) after its state, in one
#: transaction: on the bench mix's batches of 500 that took ~15% less server CPU and ~10%
#: less wall time than inserting them from arrays, but it costs four more round trips
#: (begin, COPY's two, commit), which a small batch would feel and not win back.
COPY_FROM = 128


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """A batch's arrays, as the write binds them, built ahead of it (``prepare``)."""

    state: tuple[object, ...]


def prepare(batch: BatchWrite) -> PreparedWrite:
    return PreparedWrite(_state(batch))


async def write_batch(db: Db, batch: BatchWrite) -> list[OutboxEntry]:
    prepared = batch.prepared
    state = (prepared if isinstance(prepared, PreparedWrite) else prepare(batch)).state
    if len(batch.outbox) < COPY_FROM:
        return await _write_in_one(db, batch.outbox, state)
    async with db.transaction():
        row = await db.fetchrow(_WRITE_STATE, *state, len(batch.outbox))
        assert row is not None
        stored = _numbered(batch.outbox, sorted(row["seqs"]))
        await db.copy_records_to_table(
            "outbox", columns=_OUTBOX_COLUMNS, records=map(_outbox_row, stored)
        )
    return stored


def _state(batch: BatchWrite) -> tuple[object, ...]:
    """The arrays and counts every write binds, its outbox aside."""
    new = [w.record for w in batch.referrals if w.expected_version == 0]
    changed = [w for w in batch.referrals if w.expected_version != 0]
    return (
        *_columns(new),
        *_columns(w.record for w in changed),
        [w.expected_version for w in changed],
        [tenant_column(p.tenant_id) for p in batch.processed],
        [p.command_id for p in batch.processed],
        [p.referral_id for p in batch.processed],
        [p.outcome for p in batch.processed],
        [p.rejection for p in batch.processed],
        *_notice_columns(batch.outbox),
        [tenant_column(r.tenant_id) for r in batch.read],
        [r.referral_id for r in batch.read],
        [r.version for r in batch.read],
        len(new),
        len(changed),
        len(batch.processed),
        len(batch.read),
    )


async def _write_in_one(
    db: Db, outbox: list[OutboxEntry], state: tuple[object, ...]
) -> list[OutboxEntry]:
    records = [entry.record for entry in outbox]
    row = await db.fetchrow(
        _WRITE_IN_ONE,
        *state,
        [entry.source_partition for entry in outbox],
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [headers_to_text(r.headers) for r in records],
        [r.kind for r in records],
    )
    assert row is not None
    assert row["stored"] == len(outbox)
    return _numbered(outbox, row["seqs"])


def _notice_columns(outbox: list[OutboxEntry]) -> list[list[str]]:
    """The webhook notices of the batch's events as the four arrays ``unnest`` reads."""
    notices = notices_of((entry.record for entry in outbox), format_utc(datetime.now(UTC)))
    return [
        [n.tenant for n in notices],
        [n.referral_id for n in notices],
        [n.event for n in notices],
        [n.changed_at for n in notices],
    ]


def _numbered(outbox: list[OutboxEntry], seqs: list[int]) -> list[OutboxEntry]:
    return [
        OutboxEntry(entry.source_partition, entry.record, seq)
        for entry, seq in zip(outbox, seqs, strict=True)
    ]


def _outbox_row(entry: OutboxEntry) -> tuple[object, ...]:
    record = entry.record
    return (entry.seq, entry.source_partition, record.topic, record.key, record.value,
            headers_to_text(record.headers), record.kind)  # fmt: skip


def _columns(records: Iterable[AnyRecord]) -> list[list[object]]:
    rows = [
        (
            r.referral_id,
            r.version,
            r.state.status.value,
            r.state.substatus.value,
            tenant_column(r.tenant_id),
            expiration_moment(r),
            referral_document(r),
            *read_row(read_values(r.referral), _as_is),
        )
        for r in records
    ]
    if not rows:
        return [[] for _ in _ROW_TYPES]
    return [list(column) for column in zip(*rows, strict=True)]


def _as_is(value: datetime | str) -> datetime:
    """A time column's value as asyncpg binds it (the fast path's referrals hold text)."""
    if isinstance(value, str):
        moment = parse_moment(value)
        assert moment is not None
        return moment
    return value


def key_columns(keys: Collection[tuple[str | None, str]]) -> tuple[list[str], list[str]]:
    """A collection of (tenant, id) keys as the two arrays ``unnest`` joins on."""
    return [tenant_column(tenant) for tenant, _ in keys], [name for _, name in keys]
