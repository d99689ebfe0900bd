"""The latency floor of ``bench.latency --floor``: the passthrough storing each batch first
stores every record before sending it, and sends nothing its store refused; on a real
broker, a real SQLite file and a real PostgreSQL server."""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.passthrough import passthrough
from service.broker import EmbeddedBroker
from service.settings import Settings
from service.store.sqlite_connection import sqlite_path
from tests.support.kafka_io import Producer, collect
from tests.support.postgres import fresh_postgres_database
from tests.support.services import isolated_settings

KEYS = [f"key-{n}".encode() for n in range(40)]


@dataclass
class Floor:
    url: str
    round_trips: int

    async def _run(self, sql: str) -> list[tuple[object, ...]]:
        if self.url.startswith("postgresql://"):
            db = await asyncpg.connect(self.url)
            try:
                return [tuple(row) for row in await db.fetch(sql)]
            finally:
                await db.close()
        path = sqlite_path(self.url)
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            return db.execute(sql).fetchall()

    async def stored(self) -> set[object]:
        return {key for (key,) in await self._run("SELECT key FROM passed")}

    async def refuse_inserts(self) -> None:
        if self.url.startswith("postgresql://"):
            await self._run("ALTER TABLE passed RENAME TO refused")
            return
        await self._run(
            "CREATE TRIGGER refused BEFORE INSERT ON passed BEGIN SELECT RAISE(ABORT, 'no'); END"
        )


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql-1", marks=pytest.mark.postgres),
        pytest.param("postgresql-4", marks=pytest.mark.postgres),
    ]
)
async def floor(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Floor]:
    if request.param == "sqlite":
        yield Floor(f"sqlite:///{tmp_path / 'floor.sqlite'}", 1)
        return
    async with fresh_postgres_database() as url:
        yield Floor(url, int(request.param[-1]))


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated_settings(broker.bootstrap_servers, tmp_path / "unused.db")


@contextlib.asynccontextmanager
async def _started(
    settings: Settings, floor: Floor, tmp_path: Path
) -> AsyncIterator[asyncio.Task[None]]:
    stop, ready = asyncio.Event(), tmp_path / "ready"
    task = asyncio.create_task(passthrough(settings, ready, stop, floor.url, floor.round_trips))
    try:
        async with asyncio.timeout(60):
            while not ready.exists():  # a file is how the passthrough says it is assigned
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        yield task
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)


async def _send_all(settings: Settings) -> None:
    async with Producer(settings) as producer:
        for key in KEYS:
            await producer.raw(b'{"n": 1}', key)


async def _events_written(settings: Settings) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(settings.events_topic) or set()
        assert partitions, "the passthrough made its topics before it was ready"
        ends = await consumer.end_offsets(
            [TopicPartition(settings.events_topic, p) for p in partitions]
        )
        return sum(ends.values())
    finally:
        await consumer.stop()


async def test_every_record_sent_is_stored(
    settings: Settings, floor: Floor, tmp_path: Path
) -> None:
    async with _started(settings, floor, tmp_path):
        await _send_all(settings)
        records = await collect(settings, [settings.events_topic], lambda got: len(got) >= 40)
        assert sorted(r.key for r in records if r.key) == sorted(KEYS)
        assert await floor.stored() >= set(KEYS)


async def test_nothing_is_sent_that_the_store_refused(
    settings: Settings, floor: Floor, tmp_path: Path
) -> None:
    async with _started(settings, floor, tmp_path) as task:
        await floor.refuse_inserts()
        await _send_all(settings)
        # The store's refusal ends the passthrough.
        with pytest.raises((sqlite3.IntegrityError, asyncpg.UndefinedTableError)):
            await asyncio.wait_for(task, 60)
        assert await _events_written(settings) == 0
