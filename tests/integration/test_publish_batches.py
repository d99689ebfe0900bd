"""The outbox publisher sends a call's records as record batches, one partition's at a time.

Each record lands in the partition a plain send would give it, every key's records in the
order they were given; a batch the broker fails as a whole is sent again a record at a time,
so that only the record it refuses fails. Real broker.
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.broker import EmbeddedBroker
from service.codec import OutgoingRecord
from service.consume.publisher import OutboxPublisher, RerouteSettings
from service.errors import BrokerRefused
from service.health import Health
from service.kafka import ensure_topics, make_producer
from service.metrics import Metrics
from service.settings import Settings
from tests.support.kafka_io import collect
from tests.support.services import isolated_settings

pytestmark = [pytest.mark.broker]

REFUSED = b"refuse me"


class RefusingProducer:
    """The real producer, but a batch holding the refused value fails as a whole and that
    record's own send fails: as a broker refusing one record of a batch answers."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.batches: list[int] = []
        self.sent_alone: list[bytes | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)

    def create_batch(self) -> Any:
        return Watched(self.producer.create_batch())

    async def send_batch(self, batch: "Watched", topic: str, *, partition: int) -> Any:
        self.batches.append(len(batch.values))
        if REFUSED in batch.values:
            raise ValueError("the broker refused the batch")
        return await self.producer.send_batch(batch.batch, topic, partition=partition)

    async def send(self, topic: str, *, value: bytes | None, **rest: Any) -> Any:
        self.sent_alone.append(value)
        if value == REFUSED:
            raise ValueError("the broker refused the record")
        return await self.producer.send(topic, value=value, **rest)


class Watched:
    def __init__(self, batch: Any) -> None:
        self.batch = batch
        self.values: list[bytes | None] = []

    def append(self, **record: Any) -> Any:
        added = self.batch.append(**record)
        if added is not None:
            self.values.append(record["value"])
        return added

    def close(self) -> None:
        self.batch.close()


@pytest.fixture
async def setup(
    broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[tuple[Settings, AIOKafkaProducer]]:
    settings = isolated_settings(broker.bootstrap_servers, tmp_path / "unused.db")
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        yield settings, producer
    finally:
        await producer.stop()


def publisher(settings: Settings, producer: Any) -> OutboxPublisher:
    reroute = RerouteSettings(settings.dlq_topic, settings.max_record_bytes, 3)
    metrics = Metrics(CollectorRegistry())
    return OutboxPublisher(producer, None, reroute, metrics, Health(stall_seconds=60))  # type: ignore[arg-type]


def record(topic: str, key: str, number: int, value: bytes | None = None) -> OutgoingRecord:
    body = value or f'{{"key":"{key}","n":{number}}}'.encode()
    return OutgoingRecord(topic, key.encode(), body, (("n", str(number).encode()),), "e")


async def test_records_land_where_a_send_puts_them_in_the_order_given(
    setup: tuple[Settings, AIOKafkaProducer],
) -> None:
    settings, producer = setup
    topic = settings.events_topic
    keys = [f"ref-{n}" for n in range(12)]
    records = [record(topic, key, n) for n in range(5) for key in keys]

    results = await publisher(settings, producer).send(records)
    # A reference record of each key, by a plain send: the partition it chooses.
    for key in keys:
        await (await producer.send(settings.rejections_topic, value=b"ref", key=key.encode()))

    assert results == [None] * len(records)
    got = await collect(settings, [topic], lambda got: len(got) >= len(records))
    references = await collect(
        settings, [settings.rejections_topic], lambda got: len(got) >= len(keys)
    )
    partition_of = {r.key: r.partition for r in references}
    assert len(set(partition_of.values())) > 1  # the keys spread over partitions
    for key in keys:
        mine = [r for r in got if r.key == key.encode()]
        assert [r.json["n"] for r in mine] == [0, 1, 2, 3, 4]
        assert {r.partition for r in mine} == {partition_of[key.encode()]}


async def test_a_batch_refused_whole_is_sent_again_a_record_at_a_time(
    setup: tuple[Settings, AIOKafkaProducer],
) -> None:
    settings, producer = setup
    topic = settings.events_topic
    refusing = RefusingProducer(producer)
    records = [
        record(topic, "same", 0),
        record(topic, "same", 1, REFUSED),
        record(topic, "same", 2),
        record(topic, "other", 3),
    ]

    results = await publisher(settings, refusing).send(records)

    assert results[0] is None
    assert isinstance(results[1], BrokerRefused)
    assert results[2:] == [None, None]
    assert refusing.sent_alone == [r.value for r in records[:3]]  # only the refused batch's
    got = await collect(settings, [topic], lambda got: len(got) >= 3)
    assert sorted(r.json["n"] for r in got) == [0, 2, 3]
