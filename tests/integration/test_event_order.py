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
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.broker import EmbeddedBroker
from service.codec import STRUCTURED_CONTENT_TYPE
from service.jsonio import dumps
from service.settings import Settings
from tests.support.kafka_io import Received, collect, command
from tests.support.replica_scenarios import (
    assert_duplicates_are_identical,
    distinct_ids,
    processed_at_least,
    replicas_settings,
    start_replicas,
    unique,
)

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


class CommandsProducer:
    """Publishes commands keyed by referral id, or unkeyed on a partition of its choosing."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        self.topic = settings.commands_topic
        self.rng = rng

    async def __aenter__(self) -> "CommandsProducer":
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, envelope: dict[str, Any], keyed: bool) -> None:
        headers = [("content-type", STRUCTURED_CONTENT_TYPE.encode())]
        value = dumps(envelope)
        if keyed:
            key = envelope["subject"].encode()
            await self._producer.send(self.topic, value=value, key=key, headers=headers)
        else:
            partition = self.rng.randrange(PARTITIONS)
            await self._producer.send(self.topic, value=value, partition=partition, headers=headers)

    async def flush(self) -> None:
        await self._producer.flush()


def patch_stream(rng: random.Random, ids: list[str]) -> list[tuple[dict[str, Any], bool]]:
    """Patches that each change their referral whatever the order they are applied in (a
    value of their own), half unkeyed, with producer retries of earlier ones mixed in."""
    stream: list[tuple[dict[str, Any], bool]] = []
    for n in range(PATCHES):
        rid = rng.choice(ids)
        note = [{"op": "replace", "path": "/details/notes", "value": f"note {n}"}]
        stream.append((command("referral.patch", rid, note), rng.random() < 0.5))
        if rng.random() < 0.05:
            earlier, _ = rng.choice(stream)
            stream.append((earlier, rng.random() < 0.5))
    return stream


async def referrals_stored(settings: Settings, count: int, within: float = 60) -> None:
    db = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        deadline = asyncio.get_running_loop().time() + within
        while await db.fetchval("SELECT count(*) FROM referrals") < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{count} referrals were not stored within {within}s")
            await asyncio.sleep(0.05)
    finally:
        await db.close()


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
    stream = patch_stream(rng, ids)
    patch_ids = {envelope["id"] for envelope, _ in stream}
    replicas = await start_replicas(shared_settings, tmp_path, 3)
    try:
        async with CommandsProducer(shared_settings, rng) as producer:
            for rid in ids:
                create = command("referral.create", rid, {"name": rid, "details": {"notes": ""}})
                await producer.send(create, keyed=True)
            await producer.flush()
            await referrals_stored(shared_settings, REFERRALS)

            async def produce() -> None:
                for start in range(0, len(stream), 30):
                    for envelope, keyed in stream[start : start + 30]:
                        await producer.send(envelope, keyed)
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


def first_seen_versions(records: list[Received]) -> dict[str, list[int]]:
    """Each referral's versions in topic order, duplicates dropped by event id."""
    by_referral: dict[str, list[int]] = defaultdict(list)
    for record in unique(sorted(records, key=lambda r: (r.partition, r.offset))):
        by_referral[record.json["referralId"]].append(record.json["version"])
    return dict(by_referral)


async def assert_store_matches(settings: Settings, versions: dict[str, int]) -> None:
    db = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        stored = dict(await db.fetch("SELECT id, version FROM referrals"))
        backlog = await db.fetchval("SELECT count(*) FROM outbox")
    finally:
        await db.close()
    assert stored == versions
    assert backlog == 0
