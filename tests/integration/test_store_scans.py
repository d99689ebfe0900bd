"""The expiry scan the service runs every expiry interval reads the index of the New
referrals by expiration from the oldest up to now, not every New referral: its cost
follows the referrals due, not the referrals stored."""

import contextlib
import sqlite3
from pathlib import Path

from service.store import SqliteStore
from service.store.sqlite_reads import DUE_FOR_EXPIRY


async def test_the_sqlite_expiry_scan_reads_the_due_index_range_in_its_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "referrals.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        plan = " / ".join(
            str(row[3])
            for row in db.execute(
                f"EXPLAIN QUERY PLAN {DUE_FOR_EXPIRY}",
                ("2026-12-01T00:00:00.0000000Z", "", "", "", 10),
            )
        )
    assert "USING INDEX referrals_due" in plan, plan
    assert "expiration<?" in plan.replace(" ", ""), plan  # a range, not the whole index
    assert "TEMP B-TREE" not in plan, plan  # read in its order, nothing sorted
