"""A batch written packed (one statement a table over its rows as JSON and a blob) stores
exactly what the same batch written a row at a time stores: every value and its SQLite
type, the outbox rows in order, the same refusal when one is refused.

The rows are generated at the level the store's thread sees them (``BatchRows``, updates
naming every column or some: ``sqlite_updates``), with the values JSON cannot carry as
they are: texts with NUL, lone surrogates, control characters and characters beyond the
BMP, empty and missing bytes, any bytes in keys, values and headers, integers of every
size.
"""

import contextlib
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, seed, settings
from hypothesis import strategies as st

from service.codec import OutgoingRecord
from service.errors import StaleWrite
from service.store import OutboxEntry, sqlite_packed
from service.store.columns import READ_COLUMNS, Storage
from service.store.sqlite_schema import prepare
from service.store.sqlite_updates import EVERY_COLUMN
from service.store.sqlite_writes import BatchRows, write_batch

#: Texts of any storable code point (NUL, control characters, beyond the BMP), some that
#: look like JSON escapes.
TEXTS = st.one_of(
    st.sampled_from(["", "New", "a\x00b", "é😀", "\\u0000", '"\\']), st.text(max_size=12)
)
BYTES = st.one_of(st.none(), st.binary(max_size=40), st.just(b""))
#: Integers SQLite holds, those beyond 53 bits too (which JSON would round).
INTEGERS = st.one_of(
    st.integers(0, 10), st.integers(-(2**53), 2**53), st.integers(-(2**63), 2**63 - 1)
)
#: What no file can hold, put into one batch in five: the write is refused either way.
UNSTORABLE = st.sampled_from(["\ud800", "a\udfffb", 2**63, -(2**64)])
#: How SQLite, the store and the sqlite3 module refuse what a row cannot hold.
REFUSALS = (sqlite3.Error, StaleWrite, OverflowError, UnicodeEncodeError)
TABLES = ("referrals", "referral_team", "processed_commands", "outbox")
#: The columns an update names: every one, or the version, the document and any others.
NAMED = st.one_of(
    st.just(EVERY_COLUMN),
    st.sets(st.sampled_from(EVERY_COLUMN)).map(lambda named: tuple(sorted({0, 4} | named))),
)


def _referral_row(index: int) -> st.SearchStrategy[tuple[object, ...]]:
    read = [
        TEXTS if column.storage is not Storage.TEXT else st.one_of(st.none(), TEXTS)
        for column in READ_COLUMNS
    ]
    return st.tuples(
        INTEGERS, TEXTS, TEXTS, st.one_of(st.none(), TEXTS),
        st.one_of(st.binary(max_size=60), TEXTS),  # a document, bytes as the store keeps it
        *read, st.sampled_from(["", "t1"]), st.just(f"r{index}"),
    )  # fmt: skip


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[tuple[object, ...]], BatchRows]:
    """Referrals stored before (a row at a time, the same in both files), and a batch that
    creates some referrals and updates others, at the version read or not."""
    count = draw(st.integers(0, 6))
    before = [draw(_referral_row(n)) for n in range(count)]
    rows = BatchRows()
    now = draw(st.floats(0, 2e9))  # the batch's time, every timed row's last value
    for n, row in enumerate(before):
        if draw(st.booleans()):
            changed = (*draw(_referral_row(n))[:-2], *row[-2:])  # the same referral
            expected = row[0] if draw(st.integers(0, 5)) else draw(INTEGERS)
            rows.updated.append((*changed, expected))
            rows.written.append(draw(NAMED))
            rows.replaced_teams.append((str(row[-2]), str(row[-1])))
    rows.created = [draw(_referral_row(n)) for n in range(count, count + draw(st.integers(0, 4)))]
    # Keys unique within the batch, as a decision makes them (a repeat is refused either way).
    team = st.tuples(TEXTS, st.sampled_from(["", "t1"]), TEXTS)
    rows.teams = draw(st.lists(team, max_size=4, unique=True))
    processed = st.tuples(st.just(""), TEXTS, st.one_of(st.none(), TEXTS), TEXTS, st.just(now))
    rows.processed = draw(st.lists(processed, max_size=4, unique_by=lambda row: row[1]))
    rejected = st.tuples(st.just("t1"), TEXTS, st.none(), TEXTS, TEXTS, st.just(now))
    rows.rejected = draw(st.lists(rejected, max_size=3, unique_by=lambda row: row[1]))
    rows.outbox = draw(
        st.lists(
            st.tuples(INTEGERS, TEXTS, BYTES, BYTES, st.binary(max_size=40), TEXTS, st.just(now)),
            max_size=6,
        )
    )
    rows.entries = [
        OutboxEntry(0, OutgoingRecord("events", None, None, (), "referral.updated"))
        for _ in rows.outbox
    ]  # what the write hands back, numbered
    if draw(st.integers(0, 4)) == 0:
        spoiled = draw(UNSTORABLE)
        rows.processed.append(("", "spoiled", spoiled, "applied", now))
    return before, rows


def _stored(db: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the written tables, each value beside its SQLite type, in row order."""
    found = {}
    for table in TABLES:
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        typed = ", ".join(f"{c}, typeof({c})" for c in columns)
        order = "seq" if table == "outbox" else "rowid" if table != "referral_team" else "1, 2, 3"
        found[table] = db.execute(f"SELECT {typed} FROM {table} ORDER BY {order}").fetchall()
    return found


def _written(path: Path, before: Sequence[tuple[object, ...]], rows: BatchRows, packed: bool):  # type: ignore[no-untyped-def]
    """What writing the batch came to: the stored rows and the outbox seqs, or the error."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        prepare(db, path)
        earlier = BatchRows(created=list(before))
        with contextlib.suppress(*REFUSALS):  # rows that cannot be held: neither file has them
            write_batch(db, earlier)
        try:
            entries = write_batch(db, rows, packed=packed)
        except REFUSALS as error:
            return f"{type(error).__name__} {error}", _stored(db)
        return [entry.seq for entry in entries], _stored(db)
    finally:
        db.close()


@given(batches())
@seed(20261206)
@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
def test_a_packed_write_stores_what_a_row_at_a_time_stores(
    batch: tuple[list[tuple[object, ...]], BatchRows],
) -> None:
    before, rows = batch
    with tempfile.TemporaryDirectory() as directory:
        by_row = _written(Path(directory) / "rows.db", before, rows, packed=False)
        packed = _written(Path(directory) / "packed.db", before, rows, packed=True)
    event(f"refused: {by_row[0]}" if isinstance(by_row[0], str) else "written")
    note(f"before: {before!r}; batch: {rows!r}")
    assert packed == by_row


@pytest.mark.parametrize(
    ("row", "packable"),
    [
        (("plain", b"bytes"), True),
        (("a\x00b", b""), False),  # NUL: SQLite's JSON would cut the text short
        (("\ud800", b""), False),  # a lone surrogate has no UTF-8
        ((2**53, None), False),  # beyond 53 bits: not every integer in JSON is exact
        ((2**53 - 1, None), True),
        (("text", "not bytes"), False),
        (("x", b"\x00"), True),  # a NUL byte in bytes is a byte like any
        (("\\u0000", b""), True),  # a backslash before u0000 spelled out is no NUL
        (("\\\x00", b""), False),  # a backslash, then a NUL
    ],
)
def test_pack_hands_back_what_json_cannot_carry(row: tuple[object, ...], packable: bool) -> None:
    table = sqlite_packed.Table(("a", "b"), byte_columns=(1,))
    assert (sqlite_packed.pack(table, [row]) is not None) is packable


def test_packed_rows_keep_their_order_and_bytes() -> None:
    table = sqlite_packed.Table(("n", "b"), byte_columns=(1,))
    rows = [(n, bytes([n % 256]) * (n % 7)) for n in range(1000)]
    packed = sqlite_packed.pack(table, rows)
    assert packed is not None
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, b BLOB)")
    db.execute(sqlite_packed.insert(table, "t"), (packed.blob, packed.rows))
    assert db.execute("SELECT n, b FROM t ORDER BY seq").fetchall() == rows
