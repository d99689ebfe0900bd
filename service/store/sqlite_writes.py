"""How a batch becomes SQLite statements: its rows are built on the consume loop's thread,
then written on the store's thread in one transaction, a chunk of rows per statement."""

import sqlite3
import time
from dataclasses import dataclass, field

from service.errors import StaleWrite
from service.store.base import BatchWrite, OutboxEntry
from service.store.columns import READ_COLUMN_NAMES, read_values, team_emails_of
from service.store.rows import (
    expiration_of,
    headers_to_text,
    read_row,
    referral_document,
    tenant_column,
)
from service.store.sqlite_connection import transaction
from service.store.sqlite_reads import power_of_two_chunks
from state.fields import format_utc

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


@dataclass(slots=True)
class BatchRows:
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
    def of(cls, batch: BatchWrite) -> "BatchRows":
        rows = cls()
        for write in batch.referrals:
            record = write.record
            values = read_values(record.referral)
            tenant = tenant_column(record.tenant_id)
            row = (
                record.version,
                str(record.state.status),
                str(record.state.substatus),
                expiration_of(record),
                referral_document(record),
                *read_row(values, format_utc),
                tenant,
                record.referral_id,
            )
            if write.expected_version == 0:
                rows.created.append(row)
            else:
                rows.updated.append((*row, write.expected_version))
                rows.replaced_teams.setdefault(tenant, []).append(record.referral_id)
            emails = team_emails_of(values)
            rows.teams += [(email, tenant, record.referral_id) for email in emails]
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


def write_batch(db: sqlite3.Connection, rows: BatchRows, published: list[int]) -> list[OutboxEntry]:
    """The batch in one transaction, with the deletion of outbox rows published since the
    last one; its outbox entries with their sequence numbers."""
    with transaction(db):
        delete_outbox(db, published)
        _write_referrals(db, rows)
        try:
            _insert(db, _PROCESSED_INTO, rows.processed)
        except sqlite3.IntegrityError:
            raise StaleWrite("a command of the batch was processed meanwhile") from None
        return _write_outbox(db, rows)


def delete_outbox(db: sqlite3.Connection, seqs: list[int]) -> None:
    for chunk in power_of_two_chunks(seqs):
        db.execute(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})", chunk)


def _values(chunk: list[tuple[object, ...]]) -> tuple[str, list[object]]:
    """A VALUES list of the chunk's rows and its parameters, flat."""
    row = f"({','.join('?' * len(chunk[0]))})"
    return ",".join([row] * len(chunk)), [value for values in chunk for value in values]


def _insert(db: sqlite3.Connection, into: str, rows: list[tuple[object, ...]]) -> None:
    for chunk in power_of_two_chunks(rows):
        marks, values = _values(chunk)
        db.execute(f"INSERT INTO {into} VALUES {marks}", values)


def _write_referrals(db: sqlite3.Connection, rows: BatchRows) -> None:
    """Every referral of the batch in a few statements: new ones inserted, the others
    updated only where still at the version they were read at."""
    try:
        _insert(db, _REFERRALS_INTO, rows.created)
    except sqlite3.IntegrityError:
        raise StaleWrite("a referral of the batch was created meanwhile") from None
    for chunk in power_of_two_chunks(rows.updated):
        marks, values = _values(chunk)
        cursor = db.execute(_UPDATE_REFERRALS.format(rows=marks), values)
        if cursor.rowcount != len(chunk):
            stale = len(chunk) - cursor.rowcount
            raise StaleWrite(f"{stale} referral(s) of the batch moved past the version read")
    for tenant, ids in rows.replaced_teams.items():
        for some in power_of_two_chunks(ids):
            db.execute(
                "DELETE FROM referral_team WHERE tenant_id = ?"
                f" AND referral_id IN ({','.join('?' * len(some))})",
                [tenant, *some],
            )
    _insert(db, _TEAM_INTO, rows.teams)


def _write_outbox(db: sqlite3.Connection, rows: BatchRows) -> list[OutboxEntry]:
    """The batch's records, a multi-row insert per chunk, numbered in the order of VALUES."""
    seqs: list[int] = []
    for chunk in power_of_two_chunks(rows.outbox):
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
