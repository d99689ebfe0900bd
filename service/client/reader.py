"""Read a topic from a chosen start: the beginning, the end, an offset or a time.

The end of a partition is the high watermark its first fetch answered, not the broker's
"latest" offset lookup, which the embedded broker answers wrongly; without ``follow``
reading stops there. A time is looked up with the broker's offsets-for-times; a broker
that answers it without a timestamp at or after the one asked (the embedded broker does)
is read from the beginning instead, and records older than the time are skipped here
either way.
"""

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.client.connection import partitions_of, reader, started
from service.errors import BrokerUnavailable
from service.settings import Settings

POLL_MS = 500
#: How long the first fetches may take to tell where each partition ends.
WATERMARK_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Start:
    """Where reading starts in each partition: ``beginning``, ``end``, an offset or a time."""

    at: Literal["beginning", "end", "offset", "time"] = "beginning"
    offset: int | None = None
    time_ms: int | None = None


class TopicMissing(LookupError):
    """The topic does not exist on the broker."""


async def read_topic(
    settings: Settings,
    topic: str,
    start: Start,
    *,
    follow: bool = False,
    partitions: frozenset[int] | None = None,
) -> AsyncGenerator[Any, None]:
    """The topic's records from ``start`` in each (chosen) partition, as aiokafka gives them."""
    consumer = reader(settings)
    async with started(consumer):
        assigned = [
            tp
            for tp in await partitions_of(consumer, [topic])
            if partitions is None or tp.partition in partitions
        ]
        if not assigned:
            raise TopicMissing(f"topic '{topic}' does not exist (or has none of the partitions)")
        consumer.assign(assigned)
        await _seek(consumer, assigned, start)
        ends = await high_watermarks(consumer, assigned)
        while follow or not await _reached(consumer, ends):
            for records in (await consumer.getmany(timeout_ms=POLL_MS)).values():
                for record in records:
                    if start.time_ms is None or record.timestamp >= start.time_ms:
                        yield record


async def place_at_end(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
    """Position each partition at its high watermark: past every record it holds now."""
    await consumer.seek_to_end(*partitions)  # close to the end, if the broker answers right
    for tp, end in (await high_watermarks(consumer, partitions)).items():
        consumer.seek(tp, end)


async def high_watermarks(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """Each partition's high watermark, from fetches; fetched records are read again."""
    positions = {tp: await consumer.position(tp) for tp in partitions}
    deadline = time.monotonic() + WATERMARK_SECONDS
    while any(consumer.highwater(tp) is None for tp in partitions):
        if time.monotonic() > deadline:
            raise BrokerUnavailable(f"no fetch answered within {WATERMARK_SECONDS}s")
        await consumer.getmany(timeout_ms=POLL_MS)
    for tp, position in positions.items():
        consumer.seek(tp, position)
    return {tp: int(consumer.highwater(tp)) for tp in partitions}


async def _seek(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], start: Start) -> None:
    if start.at == "end":
        await place_at_end(consumer, partitions)
    elif start.at == "offset" and start.offset is not None:
        for tp in partitions:
            consumer.seek(tp, start.offset)
    elif start.at == "time" and start.time_ms is not None:
        await _seek_to_time(consumer, partitions, start.time_ms)
    else:
        await consumer.seek_to_beginning(*partitions)


async def _seek_to_time(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], time_ms: int
) -> None:
    found = await consumer.offsets_for_times(dict.fromkeys(partitions, time_ms))
    for tp in partitions:
        answer = found.get(tp)
        if answer is None:
            await consumer.seek_to_end(tp)  # no record at or after the time
        elif answer.timestamp >= time_ms:
            consumer.seek(tp, answer.offset)
        else:
            await consumer.seek_to_beginning(tp)  # an answer without a usable timestamp


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return all([await consumer.position(tp) >= end for tp, end in ends.items()])


def now_ms() -> int:
    return int(time.time() * 1000)
