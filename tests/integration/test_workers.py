"""``referrals run`` with two worker processes, under the chaos a node sees.

Workers are killed (-9) at random moments, frozen past the session timeout, killed until
the parent gives up; the parent is killed (-9) and stopped (SIGTERM); commands arrive keyed
by referral, unkeyed, or keyed by something else. Whatever happens, every command takes
effect exactly once (as a replay through the pure core says), each referral's events
arrive gap-free and in order, a duplicate is byte-identical, the store agrees with what was
published, the parent's ``/metrics`` sums its workers' counts (never going backwards when
one dies), and no process outlives the parent. Streams, kill moments and keyings come from
one seeded generator per test.
"""

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.broker import EmbeddedBroker
from service.cli.exits import ExitStatus
from service.settings import Settings
from service.workers.supervisor import GIVE_UP_AFTER
from tests.support.http_probes import http_status, wait_ready
from tests.support.kafka_io import collect, command
from tests.support.keyed_commands import CommandsProducer, Keying, patch_stream
from tests.support.postgres import fresh_postgres_database
from tests.support.process_tree import alive, group_members, until
from tests.support.replica_scenarios import (
    assert_duplicates_are_identical,
    distinct_ids,
    first_seen_versions,
    processed_at_least,
    timelines,
    unique,
)
from tests.support.services import isolated_settings
from tests.support.store_checks import assert_store_matches, referrals_stored, stored_versions
from tests.support.worker_scenarios import (
    COMMANDS,
    Expected,
    assert_structured_log,
    committed_everything,
    metric_sum,
    produce_paced,
    running_service,
    scrape,
    worker_counted,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SEED = 20261206
REBALANCES = "referrals_rebalances_total"
KILLS = 2
SETTINGS: dict[str, object] = {
    "workers": 2,
    "max_batch_size": 25,
    "session_timeout_ms": 2000,
    "shutdown_timeout_seconds": 2.0,
    "expiry_interval_seconds": 3600,
    "log_level": "WARNING",
}


def _sqlite(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated_settings(broker.bootstrap_servers, tmp_path / "workers.db", **SETTINGS)


@pytest.fixture
def sqlite_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return _sqlite(broker, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def each_store(
    request: pytest.FixtureRequest, broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[Settings]:
    if request.param == "sqlite":
        yield _sqlite(broker, tmp_path)
        return
    async with fresh_postgres_database() as url:
        yield isolated_settings(
            broker.bootstrap_servers, tmp_path / "unused.db", database_url=url, **SETTINGS
        )


async def test_workers_killed_at_random_moments_lose_nothing_and_apply_nothing_twice(
    each_store: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    expected = Expected(rng, 40, 400)
    port = each_store.http_port
    async with running_service(each_store, tmp_path / "service.log") as service:
        producing = asyncio.create_task(produce_paced(each_store, expected.stream, 20, 0.15))
        threshold = 0
        for _ in range(KILLS):
            threshold += rng.randint(40, 140)
            await processed_at_least(port, threshold)
            index = rng.randrange(2)
            killed = await service.kill_worker(index)
            await service.worker(index, other_than=killed)
        await producing
        records = await expected.collected(each_store)
        await wait_ready(port)
        assert metric_sum(await scrape(port), "referrals_worker_restarts_total") == KILLS
        assert service.terminate(grace=30) == 0
    await expected.assert_effectively_once(each_store, records)
    assert_structured_log(tmp_path / "service.log")


async def test_the_workers_of_a_parent_killed_9_end_and_a_new_parent_finishes_the_stream(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    expected = Expected(rng, 40, 300)
    async with running_service(sqlite_settings, tmp_path / "service.log") as service:
        producing = asyncio.create_task(produce_paced(sqlite_settings, expected.stream, 25, 0.1))
        await processed_at_least(sqlite_settings.http_port, rng.randint(40, 160))
        parent, workers = service.pid, service.workers()
        assert len(workers) == 2
        service.kill()
        await until(
            lambda: not any(map(alive, workers.values())), "the workers end with the parent", 5
        )
        assert group_members(parent) == []
        service.start()
        await wait_ready(sqlite_settings.http_port)
        await producing
        records = await expected.collected(sqlite_settings)
        assert service.terminate(grace=30) == 0
    await expected.assert_effectively_once(sqlite_settings, records)


async def test_a_worker_frozen_past_its_session_loses_its_partitions_and_writes_nothing_stale(
    each_store: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 2)
    expected = Expected(rng, 40, 400)
    head, middle, tail = expected.stream[:100], expected.stream[100:320], expected.stream[320:]
    async with running_service(each_store, tmp_path / "service.log") as service:
        await produce_paced(each_store, head, 25, 0.05)
        steady, frozen = await service.worker(0), await service.worker(1)
        await until(lambda: worker_counted(frozen) > 0, "worker 1 consumes", 60)
        producing = asyncio.create_task(produce_paced(each_store, middle, 25, 0.05))
        taken = worker_counted(steady, REBALANCES, kind="assigned")
        await service.pause_worker(1)
        await until(
            lambda: worker_counted(steady, REBALANCES, kind="assigned") > taken,
            "worker 0 takes the partitions of worker 1, frozen",
            30,
        )
        await producing
        counted = worker_counted(frozen)
        assignments = worker_counted(frozen, REBALANCES, kind="assigned")
        service.resume_worker(1)
        await until(
            lambda: worker_counted(frozen, REBALANCES, kind="assigned") > assignments,
            "worker 1 rejoins",
            60,
        )
        await produce_paced(each_store, tail, 25, 0.05)
        await until(lambda: worker_counted(frozen) > counted, "worker 1 consumes again", 60)
        records = await expected.collected(each_store)
        assert service.workers()[1] == frozen  # thawed, not restarted
        assert service.terminate(grace=30) == 0
    await expected.assert_effectively_once(each_store, records)


async def test_each_referral_keeps_its_order_across_workers_whatever_the_keying(
    each_store: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 3)
    ids = [f"order-{n:02d}" for n in range(20)]
    stream = patch_stream(rng, ids, 300, list(Keying))
    patch_ids = {envelope["id"] for envelope, _ in stream}
    async with running_service(each_store, tmp_path / "service.log") as service:
        async with CommandsProducer(each_store, rng) as producer:
            for rid in ids:
                create = command("referral.create", rid, {"name": rid, "details": {"notes": ""}})
                await producer.send(create, Keying.REFERRAL)
            await producer.flush()
            await referrals_stored(each_store, len(ids))
            for envelope, keying in stream:
                await producer.send(envelope, keying)
            await producer.flush()
        wanted = len(ids) + len(patch_ids)
        records = await collect(
            each_store, [each_store.events_topic], lambda got: distinct_ids(got) >= wanted
        )
        assert service.terminate(grace=30) == 0
    assert_duplicates_are_identical(records)
    versions = first_seen_versions(records)
    assert {rid: v for rid, v in versions.items() if v != list(range(1, len(v) + 1))} == {}
    causes = [r.json["commandId"] for r in unique(records)]
    assert sorted(c for c in causes if c in patch_ids) == sorted(patch_ids)
    assert len(causes) == wanted
    await assert_store_matches(each_store, {rid: len(v) for rid, v in versions.items()})


async def test_the_parents_commands_total_sums_the_workers_and_never_goes_backwards(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 4)
    expected = Expected(rng, 30, 300)
    first, then = expected.stream[:200], expected.stream[200:]
    port = sqlite_settings.http_port
    async with running_service(sqlite_settings, tmp_path / "service.log") as service:
        await produce_paced(sqlite_settings, first, 50, 0)
        await processed_at_least(port, len(first))
        await committed_everything(sqlite_settings, len(first))
        assert metric_sum(await scrape(port), COMMANDS) == len(first)
        counted = [worker_counted(pid) for pid in service.workers().values()]
        assert all(counted)  # both workers took part
        assert sum(counted) == len(first)

        killed = await service.kill_worker(0)
        samples = []

        async def until_restarted() -> None:
            while service.workers().get(0, killed) == killed or (
                await http_status(port, "/readyz") != 200
            ):
                samples.append(metric_sum(await scrape(port), COMMANDS))

        await asyncio.wait_for(until_restarted(), 60)
        assert samples
        assert samples == [len(first)] * len(samples)

        await produce_paced(sqlite_settings, then, 50, 0)
        await processed_at_least(port, len(expected.stream))
        assert metric_sum(await scrape(port), COMMANDS) == len(expected.stream)
        records = await expected.collected(sqlite_settings)
        assert service.terminate(grace=30) == 0
    await expected.assert_effectively_once(sqlite_settings, records)


async def test_workers_that_keep_ending_make_the_parent_give_up_and_leave_no_process(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    async with running_service(sqlite_settings, tmp_path / "service.log") as service:
        for end in range(GIVE_UP_AFTER):
            index = end % 2
            killed = await service.kill_worker(index)
            if end < GIVE_UP_AFTER - 1:
                await service.worker(index, other_than=killed)
        assert service.process is not None
        assert await asyncio.to_thread(service.process.wait, 30) == ExitStatus.INTERNAL
        assert group_members(service.pid) == []


async def test_sigterm_stops_the_workers_and_every_consumed_command_has_its_events_out(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 5)
    expected = Expected(rng, 40, 400)
    async with running_service(sqlite_settings, tmp_path / "service.log") as service:
        producing = asyncio.create_task(produce_paced(sqlite_settings, expected.stream, 20, 0.1))
        await processed_at_least(sqlite_settings.http_port, rng.randint(80, 240))
        workers = service.workers()
        assert service.terminate(grace=30) == 0
        assert not any(map(alive, workers.values()))
        assert group_members(service.pid) == []
        await producing
    stored, backlog = await stored_versions(sqlite_settings)
    assert stored
    assert backlog == 0
    records = await collect(
        sqlite_settings,
        [sqlite_settings.events_topic],
        lambda got: distinct_ids(got) >= sum(stored.values()),
    )
    assert_duplicates_are_identical(records)
    out = timelines(records)
    assert {rid: len(t) for rid, t in out.items()} == stored
    assert all(t == expected.events[rid][: len(t)] for rid, t in out.items())
