"""A referral's row as SQLite stores it, and its update by a batch: only the columns that
differ from the row as it was read.

SQLite rewrites an index's entry for every column an ``UPDATE`` names, whether its value
changed or not: naming all fourteen columns but the key rewrote the entries of all seven
indexes on them at every change (measured: an update of a 1.8 KB document cost twice as
much as one naming the version, the document and the update time). A change knows the
referral as read at the version it is guarded by (``ReferralWrite.previous``); the columns
whose values differ from that row's, which the same code computed when it was written, are
the ones named, and the batch's updates go by one statement per set of columns named. An
update without the referral as read names every column.
"""

import functools
import sqlite3
from collections.abc import Sequence
from typing import Final

from service.fast.referral import AnyRecord
from service.store import sqlite_packed
from service.store.columns import READ_COLUMN_NAMES, read_values
from service.store.rows import (
    expiration_of,
    read_row,
    referral_document,
    tenant_column,
    time_text,
)
from service.store.sqlite_steps import Step, run_step

REFERRALS: Final = sqlite_packed.Table(
    ("version", "status", "substatus", "expiration", "document", *READ_COLUMN_NAMES,
     "tenant_id", "id"),
    byte_columns=(4,),
)  # fmt: skip
#: The columns an update may name, by their index in a row: all but the key.
_SETTABLE: Final = REFERRALS.columns[:-2]
_DOCUMENT: Final = _SETTABLE.index("document")
#: Named by every update: a change always writes a new version, and the document holds it.
_ALWAYS: Final = (_SETTABLE.index("version"), _DOCUMENT)
_COMPARED: Final = tuple(index for index in range(len(_SETTABLE)) if index not in _ALWAYS)
EVERY_COLUMN: Final = tuple(range(len(_SETTABLE)))
#: The column of the team's e-mails, which the team rows (``referral_team``) index.
TEAM_EMAILS_COLUMN: Final = _SETTABLE.index("team_emails")


def referral_row(record: AnyRecord, values: tuple[object, ...]) -> tuple[object, ...]:
    """The referral's row: its columns in table order, the key last; ``values``: its read
    columns' (``columns.read_values``)."""
    return (
        *_values(record, referral_document(record), values),
        tenant_column(record.tenant_id),
        record.referral_id,
    )


def written_columns(row: tuple[object, ...], previous: AnyRecord | None) -> tuple[int, ...]:
    """The columns an update of ``row`` names: those that differ from the referral's row as
    read (``previous``), by index; every column when it is not known."""
    if previous is None:
        return EVERY_COLUMN
    before = _values(previous, None, read_values(previous.referral))
    return tuple(sorted((*_ALWAYS, *(i for i in _COMPARED if row[i] != before[i]))))


def _values(
    record: AnyRecord, document: bytes | None, values: tuple[object, ...]
) -> tuple[object, ...]:
    """The values of the columns an update may name, in table order."""
    return (
        record.version,
        str(record.state.status),
        str(record.state.substatus),
        expiration_of(record),
        document,
        *read_row(values, time_text),
    )


@functools.lru_cache(maxsize=256)
def _updating(columns: tuple[int, ...]) -> Step:
    """The step updating these columns of rows still at the version they were read at."""
    named = tuple(_SETTABLE[index] for index in columns)
    table = sqlite_packed.Table(
        (*named, "tenant_id", "id", "expected"), byte_columns=(columns.index(_DOCUMENT),)
    )
    packed = (
        f"UPDATE referrals SET {', '.join(f'{c} = r.{c}' for c in named)}"
        f" FROM (SELECT {table.select(aliased=True)} FROM json_each(?2)) AS r"
        " WHERE referrals.tenant_id = r.tenant_id AND referrals.id = r.id"
        " AND referrals.version = r.expected"
    )
    by_row = (
        f"UPDATE referrals SET {', '.join(f'{c} = ?' for c in named)}"
        " WHERE tenant_id = ? AND id = ? AND version = ?"
    )
    return Step(table, packed, by_row)


def update_referrals(
    db: sqlite3.Connection,
    updated: Sequence[tuple[object, ...]],
    written: Sequence[tuple[int, ...]],
    pack: bool,
) -> int:
    """Update each row (its columns, its key, then the version it was read at) where it is
    still at that version, naming the columns ``written`` gives for it, row for row; the
    rows updated."""
    groups: dict[tuple[int, ...], list[tuple[object, ...]]] = {}
    for row, columns in zip(updated, written, strict=True):
        groups.setdefault(columns, []).append(
            (*(row[column] for column in columns), *row[len(_SETTABLE) :])
        )
    return sum(run_step(db, _updating(columns), rows, pack) for columns, rows in groups.items())
