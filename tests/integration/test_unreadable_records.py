"""Records the Kafka client cannot parse, put on a real broker byte by byte: the poll guard
names exactly the unreadable offsets, and delivers every other record once, in order."""

import asyncio
import gzip
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from service.broker import EmbeddedBroker
from service.consume.unreadable import PollGuard, RawFetcher, Unreadable
from tests.support.raw_records import GZIP, Damage, RawProducer, RawRecord, batch_of

pytestmark = pytest.mark.broker

NOT_UTF8 = b"\xff\xfe-name"


def good(label: str) -> RawRecord:
    return RawRecord(label.encode(), b"key", [(b"kind", b"good")])


def bad(label: str) -> RawRecord:
    return RawRecord(label.encode(), b"key", [(b"kind", b"bad"), (NOT_UTF8, b"x")])


@dataclass
class Topic:
    name: str
    producer: RawProducer
    bootstrap: str

    def tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.name, partition)

    async def put(self, partition: int, *records: RawRecord) -> list[int]:
        """Each record in a batch of its own."""
        return await self.producer.send_records(self.name, partition, records)


@pytest.fixture
async def topic(broker: EmbeddedBroker) -> AsyncIterator[Topic]:
    name = f"unreadable-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    async with RawProducer(broker.bootstrap_servers) as producer:
        yield Topic(name, producer, broker.bootstrap_servers)


@dataclass
class Drained:
    values: dict[int, list[bytes | None]]
    offsets: dict[int, list[int]]
    unreadable: list[Unreadable]


class Reader:
    """A consumer of the topic's partitions read through a poll guard, from the beginning."""

    def __init__(self, topic: Topic, partitions: Sequence[int]) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=topic.bootstrap,
            group_id=f"group-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        self.partitions = [topic.tp(p) for p in partitions]
        self.fetcher = RawFetcher({"bootstrap_servers": topic.bootstrap})
        self.guard = PollGuard(self.consumer, self.fetcher, limit=50, wait_ms=500)
        self.drained = Drained({p: [] for p in partitions}, {p: [] for p in partitions}, [])
        self.reached = dict.fromkeys(partitions, 0)

    async def __aenter__(self) -> "Reader":
        await self.consumer.start()
        self.consumer.assign(self.partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.fetcher.close()

    async def poll(self, max_records: int = 10) -> None:
        polled = await self.guard.poll(timeout_ms=200, max_records=max_records)
        for tp, records in polled.records.items():
            self.drained.values[tp.partition] += [r.value for r in records]
            self.drained.offsets[tp.partition] += [r.offset for r in records]
        self.drained.unreadable += polled.unreadable
        for tp, offset in polled.next_offsets().items():
            self.reached[tp.partition] = max(self.reached[tp.partition], offset)

    async def until(self, condition: Callable[[], bool], max_records: int = 10) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, f"not met within 30s: {self.reached}"
            await self.poll(max_records)

    async def drain(self, ends: dict[int, int]) -> Drained:
        """Poll until every partition's next offset reaches its end."""
        await self.until(lambda: all(self.reached[p] >= end for p, end in ends.items()))
        return self.drained


async def drain(topic: Topic, ends: dict[int, int]) -> Drained:
    async with Reader(topic, list(ends)) as reader:
        return await reader.drain(ends)


def offsets_of(found: Sequence[Unreadable]) -> list[tuple[int, int, int]]:
    return [(u.partition, u.offset, u.last_offset) for u in found]


async def test_a_header_key_that_is_not_utf8_is_named_and_the_records_around_it_delivered(
    topic: Topic,
) -> None:
    offsets = await topic.put(0, good("g0"), good("g1"), bad("b2"), good("g3"))

    drained = await drain(topic, {0: offsets[-1] + 1})

    assert offsets_of(drained.unreadable) == [(0, offsets[2], offsets[2])]
    assert drained.values[0] == [b"g0", b"g1", b"g3"]
    found = drained.unreadable[0]
    assert found.reason == "the key of header 1 is not UTF-8"
    assert found.record is not None
    assert found.record.value == b"b2"
    assert found.record.headers == ((b"kind", b"bad"), (NOT_UTF8, b"x"))


async def test_two_unreadable_records_in_a_row_and_in_two_partitions_are_each_named(
    topic: Topic,
) -> None:
    first = await topic.put(0, good("a0"), bad("a1"), bad("a2"), good("a3"), bad("a4"))
    second = await topic.put(1, bad("b0"), good("b1"), good("b2"))

    drained = await drain(topic, {0: first[-1] + 1, 1: second[-1] + 1})

    assert sorted(offsets_of(drained.unreadable)) == [
        (0, first[1], first[1]),
        (0, first[2], first[2]),
        (0, first[4], first[4]),
        (1, second[0], second[0]),
    ]
    assert drained.values == {0: [b"a0", b"a3"], 1: [b"b1", b"b2"]}


async def test_good_records_sharing_a_batch_with_an_unreadable_one_are_delivered_in_order(
    topic: Topic,
) -> None:
    """aiokafka parses a batch from its start on every fetch, so it can never hand out
    what follows a damaged record in the same batch; the guard reads those itself."""
    before = await topic.put(0, good("g0"))
    batch = batch_of([good("g1"), bad("b2"), good("g3"), bad("b4"), good("g5")])
    base = await topic.producer.send(topic.name, 0, batch)
    after = await topic.put(0, good("g6"))

    drained = await drain(topic, {0: after[-1] + 1})

    assert offsets_of(drained.unreadable) == [(0, base + 1, base + 1), (0, base + 3, base + 3)]
    assert drained.values[0] == [b"g0", b"g1", b"g3", b"g5", b"g6"]
    assert drained.offsets[0] == [before[0], base, base + 2, base + 4, after[0]]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (Damage(crc_xor=0x5A5A), "the record batch is damaged: its CRC does not match"),
        (
            Damage(attributes=GZIP, payload=lambda data: b"not gzip" + gzip.compress(data)),
            "the record batch is damaged: its data does not decompress (BadGzipFile)",
        ),
    ],
    ids=["crc", "gzip"],
)
async def test_a_damaged_batch_is_named_whole_and_the_batches_around_it_delivered(
    topic: Topic, damage: Damage, reason: str
) -> None:
    await topic.put(1, good("g0"))
    base = await topic.producer.send(topic.name, 1, batch_of([good("x1"), good("x2")], damage))
    after = await topic.put(1, good("g3"))

    drained = await drain(topic, {1: after[-1] + 1})

    assert offsets_of(drained.unreadable) == [(1, base, base + 1)]
    assert drained.unreadable[0].reason == reason
    assert drained.unreadable[0].record is None
    assert drained.values[1] == [b"g0", b"g3"]


async def test_null_keys_values_and_header_values_and_many_headers_read_as_they_were_sent(
    topic: Topic,
) -> None:
    headers = [(f"h{i}".encode(), None if i % 2 else b"v") for i in range(300)]
    offsets = await topic.put(0, RawRecord(None, None, headers), good("g1"))

    drained = await drain(topic, {0: offsets[-1] + 1})

    assert drained.unreadable == []
    assert drained.values[0] == [None, b"g1"]


async def test_records_of_other_partitions_drained_by_the_failed_poll_are_still_delivered(
    topic: Topic,
) -> None:
    """One poll drains partition 0 and then raises on partition 1: aiokafka has moved
    partition 0 past records it never handed out, so the guard moves it back."""
    first = await topic.put(0, *(good(f"a{i}") for i in range(5)))
    async with Reader(topic, [0, 1]) as reader:
        # Partition 0's fetched records stay buffered, ahead of anything fetched later.
        await reader.until(lambda: reader.reached[0] > 0, max_records=1)
        second = await topic.put(1, bad("b0"), good("b1"))
        deadline = time.monotonic() + 10
        while reader.consumer.highwater(topic.tp(1)) != second[-1] + 1:  # fetched, not polled
            assert time.monotonic() < deadline, "partition 1 was never fetched"
            await asyncio.sleep(0.01)
        drained = await reader.drain({0: first[-1] + 1, 1: second[-1] + 1})

    assert offsets_of(drained.unreadable) == [(1, second[0], second[0])]
    assert drained.values == {0: [b"a0", b"a1", b"a2", b"a3", b"a4"], 1: [b"b1"]}
