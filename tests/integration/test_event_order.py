"""Per-referral event order across replicas, whatever the keying of commands.

Three replicas share one PostgreSQL and one consumer group. Each referral's patches arrive
on several partitions (half of them unkeyed, on a partition picked at random), so replicas
write the same referral concurrently. Meanwhile one replica is frozen (SIGSTOP) long
enough to lose its partitions and then thawed with its batch still in hand, one is killed
and restarted, and the store stalls mid-batch (a table lock) while the group rebalances.

The checker reads the events topic as a subscriber does: dropping duplicates by event id,
every referral's events arrive with versions 1, 2, 3, ... (no older version after a newer
one, no gap), each patch took effect exactly once, duplicates are byte-identical, and the
store agrees with what was published.
"""

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from service.broker import EmbeddedBroker
from service.settings import Settings
from tests.support.kafka_io import collect, command
from tests.support.keyed_commands import CommandsProducer, Keying, patch_stream
from tests.support.replica_scenarios import (
    assert_duplicates_are_identical,
    distinct_ids,
    first_seen_versions,
    processed_at_least,
    replicas_settings,
    start_replicas,
    unique,
)
from tests.support.store_checks import assert_store_matches, referrals_stored

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

REFERRALS = 30
PATCHES = 900
PARTITIONS = 6
SEED = 1313


@pytest.fixture
async def shared_settings(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Settings]:
    async with replicas_settings(
        broker.bootstrap_servers,
        tmp_path,
        topic_partitions=PARTITIONS,
        max_batch_size=25,
        session_timeout_ms=3000,
        shutdown_timeout_seconds=1.0,
        expiry_interval_seconds=3600,
    ) as settings:
        yield settings


async def stall_store(settings: Settings, seconds: float) -> None:
    """Hold a lock that blocks every referral write, as a stalled database would."""
    db = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        async with db.transaction():
            await db.execute("LOCK TABLE referrals IN SHARE MODE")
            await asyncio.sleep(seconds)  # the stall itself, not a synchronisation
    finally:
        await db.close()


async def test_each_referral_publishes_its_versions_in_order_under_chaos(
    shared_settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    ids = [f"order-{n:02d}" for n in range(REFERRALS)]
    stream = patch_stream(rng, ids, PATCHES, [Keying.REFERRAL, Keying.NONE])
    patch_ids = {envelope["id"] for envelope, _ in stream}
    replicas = await start_replicas(shared_settings, tmp_path, 3)
    try:
        async with CommandsProducer(shared_settings, rng) as producer:
            for rid in ids:
                create = command("referral.create", rid, {"name": rid, "details": {"notes": ""}})
                await producer.send(create, Keying.REFERRAL)
            await producer.flush()
            await referrals_stored(shared_settings, REFERRALS)

            async def produce() -> None:
                for start in range(0, len(stream), 30):
                    for envelope, keying in stream[start : start + 30]:
                        await producer.send(envelope, keying)
                    await producer.flush()
                    await asyncio.sleep(0.05)  # pacing, so the chaos lands mid-stream

            producing = asyncio.create_task(produce())
            frozen, killed, steady = replicas
            await processed_at_least(frozen.settings.http_port, 120)
            frozen.pause()
            await asyncio.sleep(5)  # longer than the session timeout: its partitions move
            frozen.resume()
            await processed_at_least(killed.settings.http_port, 200)
            killed.kill()
            stalling = asyncio.create_task(stall_store(shared_settings, 4))
            killed.start()
            await stalling
            await producing

        wanted = REFERRALS + len(patch_ids)
        records = await collect(
            shared_settings,
            [shared_settings.events_topic],
            lambda got: distinct_ids(got) >= wanted,
            within=240,
        )
        for replica in (frozen, killed, steady):
            assert replica.terminate(grace=40) == 0
    finally:
        for replica in replicas:
            replica.ensure_stopped()

    assert_duplicates_are_identical(records)
    versions = first_seen_versions(records)
    out_of_order = {rid: v for rid, v in versions.items() if v != list(range(1, len(v) + 1))}
    assert out_of_order == {}
    causes = [r.json["commandId"] for r in unique(records)]
    assert sorted(c for c in causes if c in patch_ids) == sorted(patch_ids)
    assert len(causes) == wanted
    await assert_store_matches(shared_settings, {rid: len(v) for rid, v in versions.items()})
