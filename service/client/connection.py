"""Kafka clients for the command line: started and stopped as a group, and the partition
lookups every reader needs.

A client that fails to start is stopped at once, so an unreachable broker ends in one
error and no warning about unclosed clients.
"""

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.kafka import client_options
from service.settings import Settings

#: How long a reader's fetch waits on the broker; short, so a poll answers promptly.
READER_FETCH_WAIT_MS = 50


def reader(settings: Settings) -> AIOKafkaConsumer:
    """A consumer without a group, for assigned partitions and explicit positions."""
    return AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=READER_FETCH_WAIT_MS,
    )


def group_offsets(settings: Settings) -> AIOKafkaConsumer:
    """A consumer that only reads the service's committed offsets; it never joins."""
    return AIOKafkaConsumer(
        **client_options(settings), group_id=settings.consumer_group, enable_auto_commit=False
    )


def producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=False)


@contextlib.asynccontextmanager
async def started(*clients: Any) -> AsyncIterator[None]:
    """Start the clients in turn and stop them all at the end, or as soon as one fails."""
    try:
        for client in clients:
            await client.start()
        yield
    finally:
        for client in reversed(clients):
            await client.stop()  # also for one never started: it closes what it made


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    await consumer.topics()  # refreshes the metadata the lookups below read
    return [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]


def headers_of(record: Any) -> tuple[tuple[str, bytes], ...]:
    return tuple(record.headers or ())


def header_text(record: Any, name: str) -> str | None:
    for key, raw in headers_of(record):
        if key == name:
            return bytes(raw).decode(errors="replace")
    return None
