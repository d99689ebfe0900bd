"""Two replicas publishing one referral's outbox rows: the topic gets its versions in order.

Each scenario is an interleaving the consume loop can produce, made deterministic: replica
A stores v1 and stalls before publishing it (a slow retry, a lost partition, a frozen
process); replica B stores v2 of the same referral and publishes. Real PostgreSQL, real
broker.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.broker import EmbeddedBroker
from service.codec import OutgoingRecord
from service.consume.publisher import OutboxPublisher, RerouteSettings
from service.health import Health
from service.kafka import ensure_topics, make_producer
from service.metrics import Metrics
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry
from service.store.postgres import PostgresStore
from tests.support.kafka_io import Received, collect
from tests.support.postgres import fresh_postgres_database
from tests.support.services import isolated_settings

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


class Replica:
    """One replica's store and outbox publisher (no consumer: the test drives the steps)."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.store = PostgresStore(settings.database_url.get_secret_value())
        reroute = RerouteSettings(settings.dlq_topic, settings.max_record_bytes, 3)
        health = Health(stall_seconds=60)
        self.publisher = OutboxPublisher(
            producer, self.store, reroute, Metrics(CollectorRegistry()), health
        )

    async def store_event(self, referral_id: str, version: int) -> list[OutboxEntry]:
        record = OutgoingRecord(
            self.settings.events_topic,
            referral_id.encode(),
            f'{{"referralId":"{referral_id}","version":{version}}}'.encode(),
            (("ce_id", f"{referral_id}-v{version}".encode()),),
            "referral.updated",
        )
        return await self.store.write(BatchWrite(outbox=[OutboxEntry(0, record)]))


@pytest.fixture
async def replicas(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[list[Replica]]:
    async with fresh_postgres_database() as url:
        settings = isolated_settings(
            broker.bootstrap_servers, tmp_path / "unused.db", database_url=url
        )
        await ensure_topics(settings)
        producers = [make_producer(settings), make_producer(settings)]
        pair = [Replica(settings, producer) for producer in producers]
        for replica, producer in zip(pair, producers, strict=True):
            await producer.start()
            await replica.store.open()
        try:
            yield pair
        finally:
            for replica, producer in zip(pair, producers, strict=True):
                await replica.store.close()
                await producer.stop()


async def published_versions(settings: Settings, count: int) -> list[int]:
    records = await collect(
        settings, [settings.events_topic], lambda got: len(_unique(got)) >= count, within=30
    )
    return [record.json["version"] for record in _unique(records)]


def _unique(records: list[Received]) -> list[Received]:
    seen: set[bytes] = set()
    return [
        r for r in records if r.headers["ce_id"] not in seen and not seen.add(r.headers["ce_id"])
    ]


async def test_a_newer_version_is_not_published_before_an_older_one_left_unpublished(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    stalled = await a.store_event("ref-1", 1)
    newer = await b.store_event("ref-1", 2)
    await b.publisher.publish(newer)
    await a.publisher.publish(stalled)  # the stalled replica carries on
    assert await published_versions(a.settings, 2) == [1, 2]
    assert await a.store.outbox_backlog() == 0


async def test_a_publisher_waits_for_another_replica_publishing_the_same_referral(
    replicas: list[Replica],
) -> None:
    a, b = replicas
    first = await a.store_event("ref-2", 1)
    release = asyncio.Event()
    a.publisher.producer = _HeldProducer(a.publisher.producer, release)
    publishing_first = asyncio.create_task(a.publisher.publish(first))
    await a.publisher.producer.reached.wait()  # type: ignore[attr-defined]
    second = await b.store_event("ref-2", 2)
    publishing_second = asyncio.create_task(b.publisher.publish(second))
    done, _ = await asyncio.wait({publishing_second}, timeout=1.0)
    assert not done, "published v2 while v1 was still being published by another replica"
    release.set()
    await asyncio.wait_for(asyncio.gather(publishing_first, publishing_second), 30)
    assert await published_versions(a.settings, 2) == [1, 2]
    assert await a.store.outbox_backlog() == 0


class _HeldProducer:
    """A producer whose sends wait until ``release`` is set (a slow broker round trip)."""

    def __init__(self, producer: Any, release: asyncio.Event) -> None:
        self._producer = producer
        self._release = release
        self.reached = asyncio.Event()

    async def send(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        self.reached.set()
        await self._release.wait()
        send: Callable[..., Awaitable[Awaitable[Any]]] = self._producer.send
        return await send(*args, **kwargs)
