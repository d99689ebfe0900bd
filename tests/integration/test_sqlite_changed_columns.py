"""An update that names only the columns that differ from the referral as read
(``sqlite_updates``) stores exactly the row that naming every column stores.

Generated command streams (every kind of command, near misses of the canonical form, two
tenants; ``tests/support/command_streams.py``) are decided a batch at a time, the clock
moving between batches, and every batch is written to two SQLite files: as decided (the
referral as read known, so only the differing columns named) and with the referral as read
withheld (every column named). Both files hold the same rows, value for value and type for
type, after every batch, packed or a row at a time.
"""

import dataclasses
import sqlite3
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from service.codec import WireLimits
from service.consume.decision import decide_batch, policy_of
from service.consume.records import read_record
from service.kafka import PolledRecord
from service.settings import Settings
from service.store.sqlite_schema import prepare
from service.store.sqlite_updates import EVERY_COLUMN
from service.store.sqlite_writes import BatchRows, write_batch
from state import CommandKey, ReferralKey
from tests.support.command_streams import NOW, TENANCY, streams

TABLES = ("referrals", "referral_team")


def _rows(db: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    found = {}
    for table in TABLES:
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        typed = ", ".join(f"{c}, typeof({c})" for c in columns)
        found[table] = db.execute(f"SELECT {typed} FROM {table} ORDER BY 1, 3, 5").fetchall()
    return found


def _opened(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    prepare(db, path)
    return db


@given(
    stream=streams(),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    packed=st.booleans(),
)
@seed(20261207)
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
def test_naming_the_changed_columns_stores_what_naming_every_column_stores(
    stream: list[PolledRecord], sizes: list[int], packed: bool
) -> None:
    config = Settings()
    limits = WireLimits(config.max_command_bytes, config.max_attribute_length)
    policy = policy_of(config)
    stored: dict[ReferralKey, Any] = {}
    seen: set[CommandKey] = set()
    named: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as directory:
        changed_only = _opened(Path(directory) / "changed.db")
        every = _opened(Path(directory) / "every.db")
        try:
            start, number = 0, 0
            while start < len(stream):
                size = sizes[min(number, len(sizes) - 1)]
                batch = [read_record(r, limits, TENANCY) for r in stream[start : start + size]]
                now = NOW + timedelta(minutes=number)
                decided = decide_batch(batch, stored, seen, now, config, policy)
                start, number = start + size, number + 1
                write = decided.write
                withheld = dataclasses.replace(
                    write,
                    referrals=[dataclasses.replace(w, previous=None) for w in write.referrals],
                )
                rows = BatchRows.of(write)
                named.update("some" if c != EVERY_COLUMN else "every" for c in rows.written)
                write_batch(changed_only, rows, packed=packed)
                write_batch(every, BatchRows.of(withheld), packed=packed)
                assert _rows(changed_only) == _rows(every)
                stored.update({w.record.key: w.record for w in write.referrals})
                seen.update(CommandKey(p.tenant_id, p.command_id) for p in write.processed)
        finally:
            changed_only.close()
            every.close()
    event(f"updates naming some columns: {bool(named['some'])}")
    assert named["every"] == 0, "an update decided with the referral as read named every column"
