"""The store-wide scans the service runs beside the consume loop on a large store: the
expiry scan reads the index of the New referrals by expiration from the oldest up to now,
not every New referral (its cost follows the referrals due, not the referrals stored); the
PostgreSQL state count turns its server's parallel workers off for itself alone; the
PostgreSQL retention clean-up reads the index by age up to the cutoff, statistics or not."""

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from service.store import PostgresStore, SqliteStore
from service.store.postgres import FORGET_PROCESSED
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


@pytest.mark.postgres
async def test_the_postgresql_state_count_leaves_its_pooled_session_as_it_was(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url, pool_size=1)  # the count's connection is the next one's
    await store.open()
    try:
        async with store._pool.connection() as db:
            default = await db.fetchval("SHOW max_parallel_workers_per_gather")
        assert await store.count_by_state() == {}
        async with store._pool.connection() as db:
            after = await db.fetchval("SHOW max_parallel_workers_per_gather")
    finally:
        await store.close()
    assert default != "0"
    assert after == default  # SET LOCAL, for the count's transaction alone


@pytest.mark.postgres
async def test_the_postgresql_retention_clean_up_reads_the_age_index_up_to_the_cutoff(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    await store.close()
    db = await asyncpg.connect(postgres_url)
    try:
        # Many recent commands, none analysed yet: statistics behind the table's growth.
        await db.execute(
            "INSERT INTO processed_commands (command_id, outcome)"
            " SELECT 'c' || n, 'applied' FROM generate_series(1, 20000) AS n"
        )
        rows = await db.fetch(
            f"EXPLAIN (COSTS OFF) {FORGET_PROCESSED}", datetime.now(UTC) - timedelta(days=7), 1000
        )
    finally:
        await db.close()
    plan = "\n".join(row[0] for row in rows)
    assert "Index Scan using processed_commands_age" in plan, plan
    assert "Seq Scan" not in plan, plan
