"""Crash safety: kill -9 the service at random moments while commands stream in.

Every command must take effect exactly once, as a replay of the same commands through the
pure core says it should; no event may be missing; a re-published event keeps its id and
version. The stream, the kill moments and the replay are driven by one seeded generator.
"""

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest

from service.broker import EmbeddedBroker
from service.settings import Settings
from tests.support.http_probes import wait_ready
from tests.support.kafka_io import Producer, collect
from tests.support.replica_scenarios import (
    ServiceProcess,
    Timeline,
    assert_duplicates_are_identical,
    command_stream,
    distinct_ids,
    processed_at_least,
    replay,
    timelines,
)
from tests.support.services import isolated_settings

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REFERRALS = 80
COMMANDS = 2400
KILLS = 5
SEED = 20261124


@pytest.fixture
def crash_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated_settings(
        broker.bootstrap_servers, tmp_path / "crash.db", max_batch_size=40, log_level="WARNING"
    )


async def test_kill_9_at_random_moments_loses_nothing_and_applies_nothing_twice(
    crash_settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    stream = command_stream(rng, [f"crash-{n:03d}" for n in range(REFERRALS)], COMMANDS)
    expected_events, expected_rejections = replay(stream)
    service = ServiceProcess(crash_settings, tmp_path / "service.log")
    service.start()
    try:
        await wait_ready(crash_settings.http_port)

        async def produce() -> None:
            async with Producer(crash_settings) as producer:
                for start in range(0, len(stream), 60):
                    for envelope in stream[start : start + 60]:
                        await producer.structured(envelope)
                    await asyncio.sleep(0.15)  # pacing, so the kills land mid-stream

        producing = asyncio.create_task(produce())
        for _ in range(KILLS):
            # Crash after a random amount of work, so every kill lands mid-stream.
            await processed_at_least(crash_settings.http_port, rng.randint(20, 300))
            service.kill()
            service.start()
        await producing

        unique_events = sum(len(v) for v in expected_events.values())
        records = await collect(
            crash_settings,
            [crash_settings.events_topic, crash_settings.rejections_topic],
            lambda got: distinct_ids(got) >= unique_events + len(expected_rejections),
            within=240,
        )
        assert service.terminate(grace=40) == 0
    finally:
        service.ensure_stopped()

    events = [r for r in records if r.topic == crash_settings.events_topic]
    rejections = [r for r in records if r.topic == crash_settings.rejections_topic]
    assert_duplicates_are_identical(events)
    assert timelines(events) == expected_events
    assert {r.json["commandId"] for r in rejections} == expected_rejections
    _assert_store_matches(crash_settings, expected_events)


def _assert_store_matches(settings: Settings, expected: dict[str, Timeline]) -> None:
    path = settings.database_url.get_secret_value().removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        versions = dict(db.execute("SELECT id, version FROM referrals").fetchall())
        backlog = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert versions == {rid: events[-1][2] for rid, events in expected.items()}
    assert backlog == 0
