"""How a batch becomes SQLite statements: its rows are built on the consume loop's thread,
then written on the store's thread in one transaction, one statement per table over the
table's rows packed (``sqlite_packed``), or one ``executemany`` per table for a batch whose
rows cannot be packed exactly; the webhook deliveries of its events too, where any
registration exists."""

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from service.errors import StaleWrite
from service.store import sqlite_packed
from service.store.base import BatchWrite, OutboxEntry
from service.store.columns import read_values, team_emails_of
from service.store.rows import headers_packed, tenant_column
from service.store.sqlite_connection import transaction
from service.store.sqlite_reads import power_of_two_chunks
from service.store.sqlite_steps import Step, inserting, run_step
from service.store.sqlite_updates import (
    REFERRALS,
    TEAM_EMAILS_COLUMN,
    referral_row,
    update_referrals,
    written_columns,
)
from service.store.webhooks_sqlite import ANY_REGISTRATION, enqueue
from service.webhooks.notices import notices_of
from state.fields import format_utc

_PROCESSED: Final = sqlite_packed.Table(("tenant_id", "command_id", "referral_id", "outcome"))
#: A rejected command's record, with its reason: a statement of its own, so that the other
#: records carry no NULL for it (measured 0.35 µs a row, a sixth of the insert).
_REJECTED: Final = sqlite_packed.Table((*_PROCESSED.columns, "rejection"))
_TEAM_OF: Final = sqlite_packed.Table(("tenant_id", "referral_id"))
_TEAM: Final = sqlite_packed.Table(("email", "tenant_id", "referral_id"))
_OUTBOX: Final = sqlite_packed.Table(
    ("source_partition", "topic", "key", "value", "headers", "kind"), byte_columns=(2, 3, 4)
)
_INSERT_REFERRAL: Final = inserting(REFERRALS, "referrals")
_DELETE_TEAM: Final = Step(
    _TEAM_OF,
    "DELETE FROM referral_team WHERE (tenant_id, referral_id) IN"
    f" (SELECT {_TEAM_OF.select()} FROM json_each(?2))",
    "DELETE FROM referral_team WHERE tenant_id = ? AND referral_id = ?",
)
_INSERT_TEAM: Final = inserting(_TEAM, "referral_team")
_INSERT_PROCESSED: Final = inserting(_PROCESSED, "processed_commands", "processed_at")
_INSERT_REJECTED: Final = inserting(_REJECTED, "processed_commands", "processed_at")
_INSERT_OUTBOX: Final = inserting(_OUTBOX, "outbox", "created_at")


@dataclass(slots=True)
class BatchRows:
    """A batch's rows, built on the consume loop's thread, so that the store's thread only
    packs them (where it does) and runs a statement per table; a processed command's and an
    outbox row's last value is the batch's time."""

    created: list[tuple[object, ...]] = field(default_factory=list)
    #: Each a referral's row, then the version it was read at.
    updated: list[tuple[object, ...]] = field(default_factory=list)
    #: The columns each update names (``sqlite_updates``), one entry per update.
    written: list[tuple[int, ...]] = field(default_factory=list)
    #: (tenant column, referral id) of the updated referrals whose team rows are replaced:
    #: those whose team's e-mails changed, or are not known to be the same.
    replaced_teams: list[tuple[str, str]] = field(default_factory=list)
    teams: list[tuple[object, ...]] = field(default_factory=list)
    processed: list[tuple[object, ...]] = field(default_factory=list)
    rejected: list[tuple[object, ...]] = field(default_factory=list)
    outbox: list[tuple[object, ...]] = field(default_factory=list)
    entries: list[OutboxEntry] = field(default_factory=list)
    #: (tenant column, referral id, version read) of the referrals read and not written.
    read: list[tuple[str, str, int]] = field(default_factory=list)

    @classmethod
    def of(cls, batch: BatchWrite) -> "BatchRows":
        rows = cls()
        for write in batch.referrals:
            record = write.record
            values = read_values(record.referral)
            tenant = tenant_column(record.tenant_id)
            row = referral_row(record, values)
            if write.expected_version == 0:
                rows.created.append(row)
            else:
                written = written_columns(row, write.previous)
                rows.updated.append((*row, write.expected_version))
                rows.written.append(written)
                if TEAM_EMAILS_COLUMN not in written:
                    continue  # its team rows are those of the referral as read
                rows.replaced_teams.append((tenant, record.referral_id))
            emails = team_emails_of(values)
            rows.teams += [(email, tenant, record.referral_id) for email in emails]
        now = time.time()
        rows.processed = [
            (tenant_column(p.tenant_id), p.command_id, p.referral_id, p.outcome, now)
            for p in batch.processed
            if p.rejection is None
        ]
        rows.rejected = [
            (tenant_column(p.tenant_id), p.command_id, p.referral_id, p.outcome, p.rejection, now)
            for p in batch.processed
            if p.rejection is not None
        ]
        rows.outbox = [
            (entry.source_partition, entry.record.topic, entry.record.key, entry.record.value,
             headers_packed(entry.record.headers), entry.record.kind, now)
            for entry in batch.outbox
        ]  # fmt: skip
        rows.entries = list(batch.outbox)
        rows.read = [(tenant_column(r.tenant_id), r.referral_id, r.version) for r in batch.read]
        return rows


def write_batch(
    db: sqlite3.Connection, rows: BatchRows, *, packed: bool = False
) -> list[OutboxEntry]:
    """The batch in one transaction, with the deletion of the outbox rows marked published;
    its outbox entries with their sequence numbers. ``packed``: each table by one statement
    over its rows packed, where they can be (``sqlite_packed``)."""
    with transaction(db):
        delete_published(db)
        if rows.read and not _still_as_read(db, rows.read):
            raise StaleWrite("a referral the batch read moved on meanwhile")
        _write_referrals(db, rows, packed)
        try:
            run_step(db, _INSERT_PROCESSED, rows.processed, packed)
            run_step(db, _INSERT_REJECTED, rows.rejected, packed)
        except sqlite3.IntegrityError:
            raise StaleWrite("a command of the batch was processed meanwhile") from None
        stored = _write_outbox(db, rows, packed)
        if stored and db.execute(ANY_REGISTRATION).fetchone()[0]:
            _enqueue_notices(db, rows)
        return stored


def _still_as_read(db: sqlite3.Connection, read: list[tuple[str, str, int]]) -> bool:
    """Whether each referral is stored at the version read (0: absent)."""
    found = 0
    for chunk in power_of_two_chunks(read):
        marks = ",".join("(?, ?, ?)" for _ in chunk)
        (count,) = db.execute(
            f"SELECT count(*) FROM (VALUES {marks}) AS k LEFT JOIN referrals r"
            " ON r.tenant_id = k.column1 AND r.id = k.column2"
            " WHERE coalesce(r.version, 0) = k.column3",
            [value for row in chunk for value in row],
        ).fetchone()
        found += count
    return found == len(read)


def _enqueue_notices(db: sqlite3.Connection, rows: BatchRows) -> None:
    """The webhook deliveries of the batch's events, in its transaction."""
    now = datetime.now(UTC)
    notices = notices_of((entry.record for entry in rows.entries), format_utc(now))
    enqueue(db, notices, now.timestamp())


def delete_outbox(db: sqlite3.Connection, seqs: Iterable[int]) -> None:
    """Delete the rows of ``seqs``, a statement per run of consecutive seqs: a batch's rows
    are numbered in one run, so a batch's publish is deleted by one range."""
    db.executemany("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", seq_runs(seqs))


def delete_published(db: sqlite3.Connection) -> None:
    """Delete the outbox rows marked published, and their marks (``sqlite_outbox``)."""
    marks = db.execute("SELECT first, last FROM outbox_published").fetchall()
    if marks:
        db.executemany("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", marks)
        db.execute("DELETE FROM outbox_published")


def seq_runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """The runs of consecutive numbers in ``seqs``, each as (first, last), in order."""
    runs: list[tuple[int, int]] = []
    first = last = None
    for seq in sorted(seqs):
        if last is not None and seq == last + 1:
            last = seq
            continue
        if first is not None and last is not None:
            runs.append((first, last))
        first = last = seq
    if first is not None and last is not None:
        runs.append((first, last))
    return runs


def _write_referrals(db: sqlite3.Connection, rows: BatchRows, pack: bool) -> None:
    """New referrals inserted, the others updated only where still at the version they
    were read at, and the team rows of the updated ones replaced."""
    try:
        run_step(db, _INSERT_REFERRAL, rows.created, pack)
    except sqlite3.IntegrityError:
        raise StaleWrite("a referral of the batch was created meanwhile") from None
    updated = update_referrals(db, rows.updated, rows.written, pack)
    if updated != len(rows.updated):
        stale = len(rows.updated) - updated
        raise StaleWrite(f"{stale} referral(s) of the batch moved past the version read")
    run_step(db, _DELETE_TEAM, rows.replaced_teams, pack)
    run_step(db, _INSERT_TEAM, rows.teams, pack)


def _write_outbox(db: sqlite3.Connection, rows: BatchRows, pack: bool) -> list[OutboxEntry]:
    """The batch's records in one statement, numbered in the order they are given."""
    if not rows.outbox:
        return []
    run_step(db, _INSERT_OUTBOX, rows.outbox, pack)
    (last,) = db.execute("SELECT last_insert_rowid()").fetchone()
    first = last - len(rows.outbox) + 1
    # New seqs are above every earlier one, so n of them up to the last are these rows.
    (count,) = db.execute(
        "SELECT count(*) FROM outbox WHERE seq BETWEEN ? AND ?", (first, last)
    ).fetchone()
    assert count == len(rows.outbox), "outbox rows not numbered in one run"
    return [
        OutboxEntry(entry.source_partition, entry.record, seq)
        for entry, seq in zip(rows.entries, range(first, last + 1), strict=True)
    ]
