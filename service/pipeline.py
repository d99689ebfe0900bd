"""The consume loop: the one place that decides to retry, reject or dead-letter.

Per polled batch: decode -> dedupe -> load -> decide -> ONE store transaction (referrals,
processed commands, outbox) -> publish the outbox -> delete what Kafka acknowledged ->
commit offsets. An outage (store or broker away, another replica's write) retries the
whole batch with backoff and without committing; because the transaction records which
commands it processed, a retry or a redelivery after a crash never applies a command
twice, and unpublished outbox rows are published first, in order.

Any other failure may belong to one record (a poison record). The batch is then processed
again record by record: the records that succeed are applied, and a record that fails on
its own ``poison_attempts`` times is dead-lettered (``processing-failed``) so that it
neither ends the process nor holds up the records behind it. Writing that dead letter is
the evidence: when even it cannot be written, the fault is not the record's, and the loop
keeps retrying as for an outage.
"""

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service.batch import Incoming, command_ids, decide_batch, referral_ids
from service.codec import Undecodable, WireLimits, decode_command
from service.dead_letters import encode_dead_letter
from service.errors import (
    BrokerRefused,
    BrokerUnavailable,
    ServiceError,
    StaleWrite,
    StoreRefused,
    backoff,
)
from service.health import Health
from service.jsonio import dumps
from service.metrics import Metrics
from service.publisher import OutboxPublisher, RerouteSettings
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, Store
from state import Command, Policy
from state.limits import Limits

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
BROKER_PROBE_SECONDS = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def policy_of(settings: Settings) -> Policy:
    """The domain's policy from the settings; documents are measured by the wire encoder."""
    limits = Limits(
        max_depth=settings.max_json_depth,
        max_patch_operations=settings.max_patch_operations,
        max_document_bytes=settings.max_document_bytes,
        max_array_items=settings.max_array_items,
        max_string_length=settings.max_string_length,
        max_id_length=settings.max_attribute_length,
        document_bytes=lambda document: len(dumps(document)),
    )
    return Policy(default_expiry=settings.default_expiry, limits=limits)


class ConsumedRecord(Protocol):
    """What the consume loop reads of a record polled from Kafka."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] | None


Polled = Mapping[TopicPartition, Sequence[ConsumedRecord]]


class RecordFailed(Exception):
    """Processing failed for a reason that is not an outage; its records get isolated."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__} in the {stage} stage")
        self.stage = stage
        self.error = error

    def describe(self) -> str:
        """Class names and the place it happened; no message, so no data from the record."""
        names = [type(self.error).__name__]
        if self.error.__cause__ is not None:
            names.append(type(self.error.__cause__).__name__)
        frames = traceback.extract_tb(self.error.__traceback__)
        where = f" at {Path(frames[-1].filename).stem}.{frames[-1].name}" if frames else ""
        return f"{' from '.join(names)} in the {self.stage} stage{where}"


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        health: Health,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.store = store
        self.consumer = consumer
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.policy = policy_of(settings)
        self.wire_limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
        reroute = RerouteSettings(
            settings.dlq_topic, settings.max_record_bytes, settings.poison_attempts
        )
        self.publisher = OutboxPublisher(producer, store, reroute, metrics, health)
        self._batch_lock = asyncio.Lock()
        self._to_drain: set[int] | None = set()  # None: every partition
        self._stopping = asyncio.Event()
        self._stage = "decide"

    def subscribe(self) -> None:
        self.consumer.subscribe([self.settings.commands_topic], listener=_Rebalance(self))

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until ``stop()``; the batch in hand is finished first."""
        while not self._stopping.is_set():
            polled = await self.consumer.getmany(
                timeout_ms=500, max_records=self.settings.max_batch_size
            )
            async with self._batch_lock:
                await self._handle(polled)
            await self._update_lag()

    async def _handle(self, polled: Polled) -> None:
        """Publish any outbox backlog, then process the batch; every record ends with an
        outcome before the offsets are committed."""
        started = time.monotonic()
        incoming = [self._decode(record) for records in polled.values() for record in records]
        try:
            await self._until_done(lambda: self._attempt(incoming))
        except RecordFailed as failure:
            log.warning("batch failed; isolating its records", extra={"cause": failure.describe()})
            for item in incoming:
                await self._process_alone(item)
        if polled:
            await self._commit(polled)
            self.health.progressed()
            self.metrics.batch_seconds.observe(time.monotonic() - started)

    async def _until_done(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` until it succeeds, retrying outages with backoff and without limit.

        Any other failure is raised as RecordFailed: it may belong to a record.
        """
        delays = backoff(self.settings.retry_initial_seconds, self.settings.retry_max_seconds)
        while True:
            try:
                await work()
                self.health.retrying = None
                return
            except Exception as error:
                if self._stopping.is_set():
                    raise
                if not (isinstance(error, ServiceError) and error.retriable):
                    raise RecordFailed(self._stage, error) from error
                self._note_failure(error)
                await asyncio.sleep(next(delays))  # backoff, not a synchronisation
                self._to_drain = None

    async def _process_alone(self, item: Incoming) -> None:
        """Process one record of a failed batch; after ``poison_attempts`` failures of its
        own, dead-letter it (a failure to write that dead letter is an outage, retried)."""
        delays = backoff(self.settings.retry_initial_seconds, self.settings.retry_max_seconds)
        failure: RecordFailed | None = None
        for _ in range(self.settings.poison_attempts):
            try:
                await self._until_done(lambda: self._attempt([item]))
                return
            except RecordFailed as error:
                failure = error
                await asyncio.sleep(next(delays))  # backoff, not a synchronisation
        assert failure is not None
        while True:
            try:
                await self._until_done(lambda: self._dead_letter(item, failure))
                return
            except RecordFailed as error:
                self._note_failure(StoreRefused(error.describe()))
                await asyncio.sleep(next(delays))  # backoff, not a synchronisation

    async def _attempt(self, incoming: list[Incoming]) -> None:
        self._stage = "publish"
        await self._drain_outbox_if_needed()
        if incoming:
            await self._process(incoming)

    def _decode(self, record: ConsumedRecord) -> Incoming:
        headers = tuple(record.headers or ())
        command: Command | None = None
        error: Undecodable | None = None
        try:
            command = decode_command(record.value, headers, self.wire_limits)
        except Undecodable as undecodable:
            error = undecodable
        except Exception as unexpected:  # decoding is pure: the record alone is to blame
            error = Undecodable("processing-failed", RecordFailed("decode", unexpected).describe())
        return Incoming(
            record.topic,
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value,
            headers,
            command,
            error,
        )

    async def _process(self, incoming: list[Incoming]) -> None:
        self._stage = "store"
        current = await self.store.load(referral_ids(incoming, self.settings.max_attribute_length))
        seen = await self.store.seen(command_ids(incoming))
        self._stage = "decide"
        decided = decide_batch(incoming, current, seen, self.clock(), self.settings, self.policy)
        self._stage = "store"
        stored = await self.store.write(decided.write)
        self.health.store_ok = True
        self._stage = "publish"
        await self.publisher.publish(stored)
        oldest = min((item.timestamp_ms for item in incoming), default=None)
        self.metrics.report(decided.outcomes, oldest)

    async def _dead_letter(self, item: Incoming, failure: RecordFailed) -> None:
        record = encode_dead_letter(
            topic=self.settings.dlq_topic,
            key=item.key,
            value=item.value,
            headers=item.headers,
            code="processing-failed",
            message=failure.describe(),
            origin=(item.topic, item.partition, item.offset),
            max_bytes=self.settings.max_record_bytes,
        )
        self._stage = "store"
        stored = await self.store.write(BatchWrite(outbox=[OutboxEntry(item.partition, record)]))
        self._stage = "publish"
        await self.publisher.publish(stored)
        command_type = item.command.type.value if item.command else ""
        self.metrics.poison_records.labels(failure.stage).inc()
        self.metrics.dead_letters.labels("processing-failed").inc()
        self.metrics.commands.labels(command_type, "dead_lettered", "processing-failed").inc()
        log.error(
            "poison record dead-lettered",
            extra={
                "topic": item.topic,
                "partition": item.partition,
                "offset": item.offset,
                "cause": failure.describe(),
            },
        )

    async def _drain_outbox_if_needed(self) -> None:
        partitions = self._to_drain
        if partitions is not None and not partitions:
            return
        pending = await self.store.pending(partitions)
        self.health.store_ok = True
        if pending:
            log.info("publishing outbox backlog", extra={"records": len(pending)})
        await self.publisher.publish(pending)
        self._to_drain = set()

    async def _commit(self, polled: Polled) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in polled.items()}
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The partition moved to another replica; it continues from the last commit and
            # recognises the commands this batch already applied.
            log.warning("offset commit refused after rebalance", extra={"error": str(error)})
        except KafkaError as error:
            log.warning(
                "offset commit failed; a later commit covers it", extra={"error": str(error)}
            )

    def _note_failure(self, error: ServiceError) -> None:
        if isinstance(error, StaleWrite):
            # Another replica wrote one of the referrals: decide the batch again, no outage.
            component = "conflict"
        else:
            broker = isinstance(error, BrokerUnavailable | BrokerRefused)
            component = "broker" if broker else "store"
            self.health.retrying = component
        self.metrics.retries.labels(component).inc()
        log.warning("batch failed, retrying", extra={"component": component, "error": str(error)})

    async def _update_lag(self) -> None:
        total = 0
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await self.consumer.position(tp)
            except IllegalStateError:
                continue
            lag = max(highwater - position, 0)
            total += lag
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
        self.health.lag = total

    async def probe_broker(self) -> None:
        """Ask the cluster for its metadata; getmany alone hides a broker that went away."""
        try:
            await asyncio.wait_for(self.consumer.topics(), BROKER_PROBE_SECONDS)
            self.health.broker_ok = True
        except (KafkaError, TimeoutError):
            self.health.broker_ok = False

    def assigned(self, partitions: Collection[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assigned").inc()
        self.health.assigned = bool(self.consumer.assignment())
        if self._to_drain is not None:
            self._to_drain |= {tp.partition for tp in partitions}

    async def revoked(self, partitions: Collection[TopicPartition]) -> None:
        self.metrics.rebalances.labels("revoked").inc()
        for tp in partitions:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        try:
            # Let the batch in hand finish (stored, published, committed) before letting go.
            await asyncio.wait_for(
                self._batch_lock.acquire(), self.settings.shutdown_timeout_seconds
            )
            self._batch_lock.release()
        except TimeoutError:
            log.warning("revoking partitions while a batch is still retrying")


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        await self.pipeline.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self.pipeline.assigned(assigned)
