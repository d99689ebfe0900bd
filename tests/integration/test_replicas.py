"""Several replicas in one consumer group sharing one PostgreSQL.

Three service processes consume one stream while replicas are killed, stopped and started
(each change forces a rebalance). At the end every command took effect exactly once, each
referral's events form a gap-free version sequence once duplicates are dropped by event
id, no stale write slipped through (a duplicate event is byte-identical), the outbox of the
replica killed for good was published by the new owners of its partitions, and referrals
left New past their expiration were expired exactly once although every replica scans.
"""

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from service.broker import EmbeddedBroker
from service.settings import Settings
from state.fields import format_utc
from tests.support.kafka_io import Producer, collect, command
from tests.support.replica_scenarios import (
    Timeline,
    assert_duplicates_are_identical,
    command_stream,
    distinct_ids,
    processed_at_least,
    replay,
    replicas_settings,
    start_replicas,
    timelines,
)

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.slow]

REFERRALS = 60
EXPIRING = 8
COMMANDS = 2000
SEED = 4242


@pytest.fixture
async def shared_settings(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Settings]:
    async with replicas_settings(
        broker.bootstrap_servers,
        tmp_path,
        topic_partitions=6,
        max_batch_size=40,
        expiry_interval_seconds=0.5,
    ) as settings:
        yield settings


async def test_replicas_coming_and_going_apply_every_command_exactly_once(
    shared_settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    stream = command_stream(rng, [f"multi-{n:03d}" for n in range(REFERRALS)], COMMANDS)
    expected, expected_rejections = replay(stream)
    soon = format_utc(datetime.now(UTC) + timedelta(seconds=4))
    expiring = [f"expiring-{n}" for n in range(EXPIRING)]
    replicas = await start_replicas(shared_settings, tmp_path, 3)
    try:
        async with Producer(shared_settings) as producer:
            for rid in expiring:
                await producer.structured(command("referral.create", rid,
                                                  {"expirationDateTime": soon}))  # fmt: skip

            async def produce() -> None:
                for start in range(0, len(stream), 50):
                    for envelope in stream[start : start + 50]:
                        await producer.structured(envelope)
                    await asyncio.sleep(0.1)  # pacing, so replicas change mid-stream

            producing = asyncio.create_task(produce())
            killed_for_good, restarted, stopped = replicas
            await processed_at_least(killed_for_good.settings.http_port, rng.randint(20, 120))
            killed_for_good.kill()
            await processed_at_least(restarted.settings.http_port, rng.randint(150, 400))
            restarted.kill()
            restarted.start()
            await processed_at_least(stopped.settings.http_port, rng.randint(150, 400))
            assert stopped.terminate(grace=40) == 0
            stopped.start()
            await producing

        for rid in expiring:
            expected[rid] = [("", "referral.created", 1), ("", "referral.expired", 2)]
        wanted = sum(len(t) for t in expected.values()) + len(expected_rejections)
        records = await collect(
            shared_settings,
            [shared_settings.events_topic, shared_settings.rejections_topic],
            lambda got: distinct_ids(got) >= wanted,
            within=300,
        )
        for replica in (restarted, stopped):
            assert replica.terminate(grace=40) == 0
    finally:
        for replica in replicas:
            replica.ensure_stopped()

    events = [r for r in records if r.topic == shared_settings.events_topic]
    rejections = [r for r in records if r.topic == shared_settings.rejections_topic]
    assert_duplicates_are_identical(events)
    actual = timelines(events)
    assert _without_ids(actual) == _without_ids(expected)
    assert all([v for _, _, v in t] == list(range(1, len(t) + 1)) for t in actual.values())
    assert {r.json["commandId"] for r in rejections} == expected_rejections
    await _assert_store_matches(shared_settings, expected)


def _without_ids(timelines: dict[str, Timeline]) -> dict[str, list[tuple[str, int]]]:
    return {rid: [(kind, version) for _, kind, version in t] for rid, t in timelines.items()}


async def _assert_store_matches(settings: Settings, expected: dict[str, Timeline]) -> None:
    db = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        versions = dict(await db.fetch("SELECT id, version FROM referrals"))
        backlog = await db.fetchval("SELECT count(*) FROM outbox")
    finally:
        await db.close()
    assert versions == {rid: events[-1][2] for rid, events in expected.items()}
    assert backlog == 0
