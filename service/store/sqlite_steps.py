"""A table's statement over a batch's rows: one statement over the rows packed
(``sqlite_packed``), or ``executemany`` a row at a time for rows that cannot be packed."""

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from service.store import sqlite_packed


@dataclass(frozen=True, slots=True)
class Step:
    """One table's statement: over its rows packed, and a row at a time (``executemany``,
    for rows that cannot be packed); ``timed``: the batch's time is bound after the rows'
    values, once."""

    table: sqlite_packed.Table
    packed: str
    by_row: str
    timed: bool = False


def inserting(table: sqlite_packed.Table, name: str, timed_column: str | None = None) -> Step:
    """The step inserting rows of ``table`` into ``name``; ``timed_column``: filled with the
    batch's time, each row's last value."""
    extra = {timed_column: "?3"} if timed_column else {}
    columns = (*table.columns, *extra)
    by_row = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return Step(table, sqlite_packed.insert(table, name, extra), by_row, timed=bool(extra))


def run_step(
    db: sqlite3.Connection, step: Step, rows: Sequence[tuple[object, ...]], pack: bool
) -> int:
    """Run a step over its rows, packed when ``pack`` and they can be, else as they are; the
    rows it changed."""
    if not rows:
        return 0
    if pack:
        # A timed row ends with the batch's time, the same in every row: bound once.
        values, extra = ([row[:-1] for row in rows], (rows[0][-1],)) if step.timed else (rows, ())
        rows_packed = sqlite_packed.pack(step.table, values)
        if rows_packed is not None:
            return db.execute(step.packed, (rows_packed.blob, rows_packed.rows, *extra)).rowcount
    return db.executemany(step.by_row, rows).rowcount
