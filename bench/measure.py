"""Producing a stream of records and timing each one until its outcome record is read.

A ``Tracker`` holds, per command id, the send times still waiting for an output record;
the ``OutcomeReader`` (a plain consumer assigned to every partition of the output topics)
matches what it reads by id and records the latency. Send and receive times come from the
same process's monotonic clock.
"""

import asyncio
import contextlib
import dataclasses
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.cpu import CpuSnapshot, used_between
from bench.workload import Record
from service.codec import STRUCTURED_CONTENT_TYPE

#: How an output record names the command it answers: (header, structured envelope field).
Identify = Callable[[Any], str | None]


def identify_by(header: str, attribute: str) -> Identify:
    structured = STRUCTURED_CONTENT_TYPE.encode()

    def identify(record: Any) -> str | None:
        content_type = None
        for name, value in record.headers or ():
            if name == header:
                return bytes(value).decode()
            if name == "content-type":
                content_type = value
        if content_type == structured and record.value:
            found = orjson.loads(record.value).get(attribute)
            return str(found) if found is not None else None
        return None

    return identify


#: Service outcomes carry the command id as ``causationid``; the passthrough output is the
#: command itself, whose id is ``id``.
OUTCOME_ID = identify_by("ce_causationid", "causationid")
COMMAND_ID = identify_by("ce_id", "id")


@dataclass
class Tracker:
    sent: dict[str, deque[float]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    by_topic: Counter[str] = field(default_factory=Counter)
    output_bytes: int = 0
    expected: int = 0
    last_seen: float = 0.0
    #: Every record of the phase is sent: ``expected`` is final.
    closed: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, command_id: str, at: float) -> None:
        self.sent.setdefault(command_id, deque()).append(at)
        self.expected += 1

    def matched(self, command_id: str | None, topic: str, size: int, at: float) -> None:
        if command_id is None:
            return
        waiting = self.sent.get(command_id)
        if not waiting:
            return  # warm-up leftovers, or a re-published record already counted
        self.latencies.append(at - waiting.popleft())
        if not waiting:
            del self.sent[command_id]
        self.by_topic[topic] += 1
        self.output_bytes += size
        self.last_seen = at
        self._settle()

    def close(self) -> None:
        """No more records to expect; done once the last expected one is seen."""
        self.closed = True
        self._settle()

    def _settle(self) -> None:
        # Only once closed: at a paced rate the reader often catches up with the records
        # sent so far, which is not the end of the phase.
        if self.closed and len(self.latencies) >= self.expected:
            self.done.set()


class OutcomeReader:
    """Reads every partition of the output topics from the start, matching records by id."""

    def __init__(
        self, bootstrap: str, topics: Sequence[str], fetch_max_wait_ms: int, identify: Identify
    ) -> None:
        self.topics = list(topics)
        self.identify = identify
        self.tracker: Tracker | None = None
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id="referrals-bench-reader",
            enable_auto_commit=False,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self, within: float = 30.0) -> None:
        await asyncio.wait_for(self._consumer.start(), within)
        deadline = time.monotonic() + within
        while True:
            await asyncio.wait_for(self._consumer.topics(), within)  # refreshes metadata
            partitions = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in sorted(self._consumer.partitions_for_topic(topic) or ())
            ]
            known = {tp.topic for tp in partitions}
            if known == set(self.topics):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {set(self.topics) - known} do not exist")
            await asyncio.sleep(0.2)
        self._consumer.assign(partitions)
        await asyncio.wait_for(self._consumer.seek_to_beginning(*partitions), within)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            polled = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            now = time.monotonic()
            tracker = self.tracker
            if tracker is None:
                continue
            for records in polled.values():
                for record in records:
                    tracker.matched(self.identify(record), record.topic, _size(record), now)

    def check(self) -> None:
        """Raise what stopped the reading task, if it stopped."""
        if self._task is not None and self._task.done():
            self._task.result()
            raise RuntimeError("the outcome reader stopped")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._consumer.stop(), 15)


def _size(record: Any) -> int:
    """Bytes of key, value and headers, as ``Record.size`` counts them."""
    headers = sum(len(name) + len(value or b"") for name, value in record.headers or ())
    return len(record.key or b"") + len(record.value or b"") + headers


@dataclass(frozen=True)
class PhaseResult:
    records: int
    outputs: int
    seconds: float
    produce_seconds: float
    latencies: list[float]
    by_topic: dict[str, int]
    output_bytes: int
    #: Where the machine's CPU went while a backlog drained (``bench.cpu``), in seconds.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def mean_output_bytes(self) -> float:
        return self.output_bytes / self.outputs if self.outputs else math.nan

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else math.nan

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile of the per-record latency, in milliseconds."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(math.ceil(p / 100 * len(ordered)), 1)
        return ordered[rank - 1] * 1000


async def run_phase(
    producer: AIOKafkaProducer,
    reader: OutcomeReader,
    topic: str,
    stream: Sequence[Record],
    *,
    counts_output: Callable[[Record], bool],
    rate: float | None,
    within: float,
    check_alive: Callable[[], None],
    hold: tuple[Callable[[], None], Callable[[], None]] | None = None,
    cpu: Callable[[], CpuSnapshot] | None = None,
) -> PhaseResult:
    """Send ``stream`` (as fast as possible, or at ``rate`` records/s) and wait until every
    record for which ``counts_output`` holds has its output record read back.

    With ``hold`` (pause, resume), the process under test is paused while the whole stream
    is sent and acknowledged, and the clock starts when it resumes: the backlog is queued
    first, so the rate is the process's, not the benchmark's send rate.

    ``check_alive`` raises when the process under test has gone; it is called while
    waiting, so a dead child fails the phase at once instead of at the deadline.

    ``cpu`` (with ``hold``) takes a snapshot of the CPU used so far, taken as the process
    under test resumes and once the last outcome is read: the phase's result says where
    the machine's CPU went while the backlog drained."""
    if hold is not None:
        return await _backlog_phase(
            producer, reader, topic, stream, counts_output, within, hold, check_alive, cpu
        )
    tracker = Tracker()
    reader.tracker = tracker
    deliveries = []
    started = time.monotonic()
    deadline = started + within
    for index, record in enumerate(stream):
        if rate is not None:
            wait = started + index / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # pacing at a fixed rate, not a synchronisation
            if index % 200 == 0:
                check_alive()
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"producing took longer than {within}s")
        if counts_output(record):
            tracker.expect(record.command_id, now)
        deliveries.append(
            await producer.send(
                topic, value=record.value, key=record.key, headers=list(record.headers)
            )
        )
    tracker.close()
    await asyncio.wait_for(asyncio.gather(*deliveries), max(deadline - time.monotonic(), 1))
    produced = time.monotonic() - started
    await _outcomes(tracker, reader, check_alive, deadline, within)
    return _result(reader, tracker, stream, started, produced)


async def _backlog_phase(
    producer: AIOKafkaProducer,
    reader: OutcomeReader,
    topic: str,
    stream: Sequence[Record],
    counts_output: Callable[[Record], bool],
    within: float,
    hold: tuple[Callable[[], None], Callable[[], None]],
    check_alive: Callable[[], None],
    cpu: Callable[[], CpuSnapshot] | None,
) -> PhaseResult:
    pause, resume = hold
    tracker = Tracker()
    pause()
    try:
        queued = time.monotonic()
        deliveries = [
            await producer.send(topic, value=r.value, key=r.key, headers=list(r.headers))
            for r in stream
        ]
        await asyncio.wait_for(asyncio.gather(*deliveries), within)
        produced = time.monotonic() - queued
        started = time.monotonic()
        for record in stream:
            if counts_output(record):
                tracker.expect(record.command_id, started)
        tracker.close()
        reader.tracker = tracker
        before = cpu() if cpu is not None else None
    finally:
        resume()
    await _outcomes(tracker, reader, check_alive, started + within, within)
    result = _result(reader, tracker, stream, started, produced)
    if cpu is None or before is None:
        return result
    return dataclasses.replace(result, cpu=used_between(before, cpu()))


async def _outcomes(
    tracker: Tracker,
    reader: OutcomeReader,
    check_alive: Callable[[], None],
    deadline: float,
    within: float,
) -> None:
    """Wait until every expected outcome record was read; fail at ``deadline``."""
    while not tracker.done.is_set():
        reader.check()
        check_alive()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            missing = tracker.expected - len(tracker.latencies)
            raise TimeoutError(
                f"{missing} of {tracker.expected} outcome records not seen within {within}s"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracker.done.wait(), min(remaining, 1.0))


def _result(
    reader: OutcomeReader,
    tracker: Tracker,
    stream: Sequence[Record],
    started: float,
    produced: float,
) -> PhaseResult:
    reader.tracker = None
    return PhaseResult(
        records=len(stream),
        outputs=len(tracker.latencies),
        seconds=tracker.last_seen - started,
        produce_seconds=produced,
        latencies=tracker.latencies,
        by_topic=dict(tracker.by_topic),
        output_bytes=tracker.output_bytes,
    )
