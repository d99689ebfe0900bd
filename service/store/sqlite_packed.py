"""A batch's rows as SQLite takes them in a few calls: each table's rows as one JSON array
(encoded in C), their bytes laid end to end in one blob, and each table written by one
``INSERT … SELECT … FROM json_each`` (an ``UPDATE … FROM``, a ``DELETE … IN``).

Why: the sqlite3 module lets go of the interpreter's lock around every row that
``executemany`` steps and must take it back after, so beside a busy consume loop each row
waited up to the interpreter's switch interval (5 ms): 1,500 rows took up to 13 s instead of
24 to 53 ms in a probe. One statement a table is one step of SQLite's own, so a batch's write
takes the lock back a dozen times and can run beside the next decision.

Rows that JSON cannot carry exactly (a text holding NUL or a lone surrogate, an integer
beyond 53 bits) make ``pack`` answer None, and that table's rows go by ``executemany``
(``sqlite_writes``); a property test writes generated rows both ways and compares every
stored value and its type.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from state.commands import json_escape

#: Integers beyond 53 bits raise, so that none reaches SQLite's JSON as a REAL.
_OPTIONS: Final = orjson.OPT_STRICT_INTEGER
#: How orjson escapes a NUL, which SQLite's JSON would cut a text short at (a backslash
#: written out before ``u0000`` is none).
_ESCAPED_NUL: Final = json_escape(rb"u0000")


@dataclass(frozen=True, slots=True)
class Table:
    """How one table's rows are packed: which of a row's values are bytes (each becomes an
    offset and a length into the blob, or two nulls)."""

    columns: tuple[str, ...]
    #: The indexes of the columns that hold bytes, ascending.
    byte_columns: tuple[int, ...] = ()

    def select(self, aliased: bool = False) -> str:
        """The SELECT list reading a packed row back (``value`` of ``json_each(?2)``, the
        blob ``?1``), each value named after its column when ``aliased``."""
        expressions, at = [], 0
        for index, column in enumerate(self.columns):
            if index in self.byte_columns:
                expression = f"substr(?1, {_item(at)}, {_item(at + 1)})"
                at += 2
            else:
                expression = _item(at)
                at += 1
            expressions.append(f"{expression} AS {column}" if aliased else expression)
        return ", ".join(expressions)


def _item(index: int) -> str:
    return f"json_extract(value, '$[{index}]')"


@dataclass(frozen=True, slots=True)
class PackedRows:
    """One table's rows: the JSON array, and the blob their bytes are in."""

    rows: bytes
    blob: bytes


def pack(table: Table, rows: Sequence[tuple[object, ...]]) -> PackedRows | None:
    """The rows packed, or None when JSON cannot carry one of them exactly."""
    if not table.byte_columns:
        return _encoded(rows, b"")
    # One byte first: substr of a blob that is empty as a whole is NULL, not an empty blob.
    parts: list[bytes] = [b"\x00"]
    packed: list[list[object]] = []
    position = 2  # substr counts from 1
    for row in rows:
        values: list[object] = []
        start = 0
        for index in table.byte_columns:
            values += row[start:index]
            value = row[index]
            if value is None:
                values += (None, None)
            elif type(value) is bytes:
                values += (position, len(value))
                parts.append(value)
                position += len(value)
            else:
                return None
            start = index + 1
        values += row[start:]
        packed.append(values)
    return _encoded(packed, b"".join(parts))


def _encoded(rows: Sequence[Sequence[object]], blob: bytes) -> PackedRows | None:
    try:
        text = orjson.dumps(rows, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: a surrogate, a big integer, another type
        return None
    if _ESCAPED_NUL(text):
        return None
    return PackedRows(text, blob)


def insert(table: Table, name: str, extra: dict[str, str] | None = None) -> str:
    """``INSERT`` of packed rows into ``name``, in the order given: ``json_each`` walks an
    array in order, and a scan of one table is inserted as it is walked (an ``ORDER BY``
    would copy every row into a sorter first; a test checks the order). ``extra``: columns
    filled by an expression, e.g. a bound time."""
    extra = extra or {}
    columns = ", ".join((*table.columns, *extra))
    values = ", ".join((table.select(), *extra.values()))
    return f"INSERT INTO {name} ({columns}) SELECT {values} FROM json_each(?2)"
