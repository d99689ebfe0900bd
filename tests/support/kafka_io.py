"""Speaking the Kafka contract in tests: build commands, publish them, collect what came out."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.codec import STRUCTURED_CONTENT_TYPE
from service.jsonio import dumps, loads
from service.settings import Settings


def command(
    kind: str, subject: str | None, data: Any = None, command_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": command_id or str(uuid.uuid4()),
        "type": kind,
        "source": "urn:test",
        **extra,
    }
    if subject is not None:
        envelope["subject"] = subject
    if data is not None:
        envelope["data"] = data
    return envelope


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    def header(self, name: str) -> str:
        return self.headers[name].decode()

    @property
    def json(self) -> Any:
        assert self.value is not None
        return loads(self.value)


class Producer:
    def __init__(self, settings: Settings, topic: str | None = None) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        self.topic = topic or settings.commands_topic

    async def __aenter__(self) -> "Producer":
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def structured(self, envelope: dict[str, Any]) -> Any:
        key = envelope.get("subject")
        return await self.raw(
            dumps(envelope),
            key.encode() if key else None,
            [("content-type", STRUCTURED_CONTENT_TYPE.encode())],
        )

    async def binary(self, envelope: dict[str, Any]) -> Any:
        headers = [
            (f"ce_{name}", str(value).encode())
            for name, value in envelope.items()
            if name != "data"
        ]
        value = dumps(envelope["data"]) if "data" in envelope else None
        key = envelope.get("subject")
        return await self.raw(value, key.encode() if key else None, headers)

    async def raw(
        self, value: bytes | None, key: bytes | None = None, headers: list[Any] | None = None
    ) -> Any:
        """Publish one record; returns its metadata (partition, offset)."""
        return await self._producer.send_and_wait(
            self.topic, value=value, key=key, headers=headers or []
        )


async def collect(
    settings: Settings,
    topics: list[str],
    until: Callable[[list[Received]], bool],
    within: float = 60.0,
) -> list[Received]:
    """Read the topics from the beginning until ``until(records)`` holds; fail on timeout."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    received: list[Received] = []
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        assert partitions, f"topics {topics} do not exist"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + within
        while not until(received):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {within}s; got {len(received)}")
            polled = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for records in polled.values():
                received.extend(
                    Received(r.topic, r.partition, r.offset, r.key, r.value, dict(r.headers or ()))
                    for r in records
                )
        return received
    finally:
        await consumer.stop()


async def committed_offset(settings: Settings, partition: int) -> int | None:
    """The service group's committed offset of one commands-topic partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=settings.consumer_group
    )
    await consumer.start()
    try:
        committed: int | None = await consumer.committed(
            TopicPartition(settings.commands_topic, partition)
        )
        return committed
    finally:
        await consumer.stop()
