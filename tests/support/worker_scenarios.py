"""Building blocks of the worker scenarios: the service with its workers running, paced
streams, what the parent's ``/metrics`` and each worker's own metrics file say."""

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.multiprocess import MultiProcessCollector

from service.settings import Settings
from service.workers.reports import read_report
from tests.support.http_probes import http_get, wait_ready
from tests.support.kafka_io import Producer, Received, collect
from tests.support.process_tree import PROC, WORKER_MODULE, until
from tests.support.replica_scenarios import (
    ServiceProcess,
    Timeline,
    assert_duplicates_are_identical,
    command_stream,
    distinct_ids,
    replay,
    timelines,
)
from tests.support.store_checks import assert_store_matches

COMMANDS = "referrals_commands_total"


@contextlib.asynccontextmanager
async def running_service(
    settings: Settings, log: Path, workers: int = 2
) -> AsyncIterator[ServiceProcess]:
    """``referrals run`` as a child process, ready and with its ``workers`` running; whatever
    is left of its tree is killed when the block ends."""
    service = ServiceProcess(settings, log)
    service.start()
    try:
        await wait_ready(settings.http_port, within=90)
        for index in range(workers):
            pid = await service.worker(index)
            await until(partial(assigned, pid), f"worker {index} has partitions", 60)
        yield service
    finally:
        service.ensure_stopped()


async def produce_paced(
    settings: Settings, stream: list[dict[str, Any]], chunk: int, pause: float
) -> None:
    """Publish ``stream`` keyed by referral, ``chunk`` commands at a time, ``pause`` apart,
    so what the scenario does lands mid-stream."""
    async with Producer(settings) as producer:
        for start in range(0, len(stream), chunk):
            for envelope in stream[start : start + chunk]:
                await producer.structured(envelope)
            await asyncio.sleep(pause)  # pacing, not a synchronisation


class Expected:
    """A seeded stream of commands over many referrals and what must come out of it."""

    def __init__(self, rng: random.Random, referrals: int, commands: int) -> None:
        ids = [f"w-{n:03d}" for n in range(referrals)]
        self.stream = command_stream(rng, ids, commands)
        self.events, self.rejections = replay(self.stream)
        self.distinct = Expected.outcomes(self.stream)

    async def collected(self, settings: Settings, first: int | None = None) -> list[Received]:
        """Read events and rejections until every one expected is there (of the ``first``
        commands of the stream only, when given)."""
        wanted = Expected.outcomes(self.stream[:first]) if first is not None else self.distinct
        return await collect(
            settings,
            [settings.events_topic, settings.rejections_topic],
            lambda got: distinct_ids(got) >= wanted,
            within=120,
        )

    @staticmethod
    def outcomes(stream: list[dict[str, Any]]) -> int:
        """How many events and rejections a stream makes."""
        events, rejections = replay(stream)
        return sum(map(len, events.values())) + len(rejections)

    async def assert_effectively_once(self, settings: Settings, records: list[Received]) -> None:
        events = [r for r in records if r.topic == settings.events_topic]
        rejections = [r for r in records if r.topic == settings.rejections_topic]
        assert_duplicates_are_identical(events)
        assert timelines(events) == self.events
        assert {r.json["commandId"] for r in rejections} == self.rejections
        await assert_store_matches(settings, _last_versions(self.events))


def _last_versions(events: dict[str, Timeline]) -> dict[str, int]:
    return {rid: timeline[-1][2] for rid, timeline in events.items()}


async def committed_everything(settings: Settings, commands: int, within: float = 30) -> None:
    """Wait until the service's group has committed ``commands`` offsets of the commands
    topic in all (every batch landed and committed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=settings.consumer_group
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.commands_topic, p)
                      for p in range(settings.topic_partitions)]  # fmt: skip
        deadline = asyncio.get_running_loop().time() + within
        while sum([await consumer.committed(tp) or 0 for tp in partitions]) < commands:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{commands} offsets not committed within {within}s")
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()


def assert_structured_log(log: Path) -> None:
    """Every line the service wrote (the parent's and the workers') is one JSON object."""
    lines = log.read_bytes().splitlines()
    assert lines
    for line in lines:
        assert isinstance(orjson.loads(line), dict), line


def metric_sum(exposition: bytes, name: str) -> float:
    """The sum of every series of ``name`` in a text exposition."""
    prefixes = (f"{name}{{".encode(), f"{name} ".encode())
    return sum(
        float(line.rsplit(b" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(prefixes)
    )


async def scrape(port: int) -> bytes:
    status, body = await http_get(port, "/metrics")
    assert status == 200
    return body


def _directory(pid: int) -> tuple[int, Path]:
    """Worker ``pid``'s index and the parent's directory for its workers' files (the last
    arguments of a worker's command line)."""
    argv = (PROC / str(pid) / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert WORKER_MODULE.encode() in argv
    return int(argv[-3]), Path(argv[-1].decode())


def assigned(pid: int) -> bool:
    """Whether worker ``pid`` reports in, ready, with partitions of its own."""
    index, directory = _directory(pid)
    report = read_report(directory, index)
    return report is not None and report.pid == pid and not report.problems


def worker_counted(pid: int, name: str = COMMANDS, **labels: str) -> float:
    """What the worker process ``pid`` counted in counter ``name`` (the series with these
    ``labels``), read from its own metrics file in its parent's multiprocess directory."""
    counters = _directory(pid)[1] / "metrics" / f"counter_{pid}.db"
    if not counters.exists() or not counters.stat().st_size:
        return 0.0
    merged = MultiProcessCollector.merge([str(counters)], accumulate=True)  # type: ignore[no-untyped-call]
    return sum(
        sample.value
        for family in merged
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )
