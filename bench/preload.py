"""Referrals stored before a run, so the service is measured against a store of a size.

Copies of one realistic referral (the benchmark's own document, created through the pure
decision) under ids of their own, written through the store's own interface in large
batches, as the service would have stored them; they are New and not due for expiry.
"""

import asyncio
import sys
import time
from datetime import UTC, datetime

from bench.workload import referral_document
from service.store import BatchWrite, ReferralWrite, open_store
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
    return time.monotonic() - started


def run_preload(database_url: str, count: int) -> float:
    return asyncio.run(preload(database_url, count))
