"""Referrals stored before a run, so the service is measured against a store of a size.

Copies of one realistic referral (the benchmark's own document, created through the pure
decision) under ids of their own, written through the store's own interface in large
batches, as the service would have stored them; they are New and not due for expiry.

The store is then left at rest, as a store that grew over months would be, so that the
bulk load's own aftermath does not land in the measured run: SQLite's write-ahead log
folded into the file and the file on disk; PostgreSQL's table vacuumed and analysed (what
autovacuum would otherwise start on the freshly loaded table during the run) and a
checkpoint taken.
"""

import asyncio
import contextlib
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime

import asyncpg

from bench.workload import referral_document
from service.store import BatchWrite, ReferralWrite, open_store, sqlite_path, store_backend
from state import Applied, Command, CommandType, ReferralRecord, decide

BATCH = 5000


def _template() -> ReferralRecord:
    import random

    command = Command(
        type=CommandType.CREATE,
        command_id="preload-template",
        referral_id="stored-template",
        data=referral_document(random.Random(1), 0),
    )
    decision = decide(None, command, datetime.now(UTC))
    assert isinstance(decision, Applied)
    return decision.record


async def preload(database_url: str, count: int) -> float:
    """Store ``count`` referrals (ids ``stored-0000000``…); returns the seconds it took."""
    started = time.monotonic()
    template = _template()
    store = open_store(database_url)
    await store.open()
    try:
        for start in range(0, count, BATCH):
            records = [
                ReferralRecord(template.referral.model_copy(update={"id": f"stored-{n:07d}"}))
                for n in range(start, min(start + BATCH, count))
            ]
            await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in records]))
            if start and start % 100_000 == 0:
                print(f"  stored {start:,} referrals", file=sys.stderr, flush=True)
    finally:
        await store.close()
    await at_rest(database_url)
    return time.monotonic() - started


async def at_rest(database_url: str) -> None:
    """Finish what a bulk load leaves the store and the disk to do."""
    if store_backend(database_url) == "sqlite":
        with contextlib.closing(sqlite3.connect(sqlite_path(database_url))) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        db = await asyncpg.connect(database_url)
        try:
            await db.execute("VACUUM ANALYZE")
            await db.execute("CHECKPOINT")
        finally:
            await db.close()
    os.sync()


def run_preload(database_url: str, count: int) -> float:
    return asyncio.run(preload(database_url, count))
