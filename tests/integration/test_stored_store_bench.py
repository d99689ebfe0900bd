"""The benchmark of a store kept between runs lands each round's commands under ids of
their own beside what the store holds, times every stage and every scan, and leaves no
outbox row behind."""

import asyncio
import sqlite3
from pathlib import Path

from bench.preload import run_preload
from bench.store_write import decided_writes
from bench.stored_store import SCANS, STAGES, one_round


def test_two_rounds_land_beside_the_stored_referrals(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    run_preload(url, 50)
    for round_number in range(2):
        commands, writes = decided_writes(20, 50, seed=round_number, prefix=f"r{round_number}")
        landed = asyncio.run(one_round(url, writes, commands))
        assert set(landed.cpu) == set(landed.wall) == set(STAGES)
        assert all(landed.wall[stage] > 0 for stage in STAGES)
        assert set(landed.scans) == set(SCANS)
        assert landed.server is None  # SQLite: no server to read
    with sqlite3.connect(tmp_path / "kept.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM referrals WHERE id LIKE 'stored-%'").fetchone()
        (landed_ids,) = db.execute("SELECT count(DISTINCT substr(id, 1, 2)) FROM referrals"
                                   " WHERE id LIKE 'r_-%'").fetchone()  # fmt: skip
        (outbox,) = db.execute("SELECT count(*) FROM outbox").fetchone()
    assert stored == 50
    assert landed_ids == 2
    assert outbox == 0
