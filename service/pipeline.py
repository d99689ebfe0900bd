"""The consume loop: the one place that talks to Kafka and decides to retry.

Per polled batch: decode -> dedupe -> load -> decide -> ONE store transaction (referrals,
processed commands, outbox) -> publish the outbox -> delete what Kafka acknowledged ->
commit offsets. A store or broker failure retries the whole batch with backoff and
without committing; because the transaction records which commands it processed, a retry
or a redelivery after a crash never applies a command twice, and unpublished outbox rows
are published first, in order.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service.batch import Incoming, Outcome, command_ids, decide_batch, referral_ids
from service.codec import Undecodable, decode_command
from service.errors import BrokerUnavailable, ServiceError, StaleWrite
from service.health import Health
from service.metrics import Metrics
from service.settings import Settings
from service.store import OutboxEntry, Store
from state import EventType, Policy, ReferralEvent

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
BROKER_PROBE_SECONDS = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        self.producer = producer
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.policy = Policy(default_expiry=settings.default_expiry)
        self._batch_lock = asyncio.Lock()
        self._to_drain: set[int] | None = set()  # None: every partition
        self._stopping = asyncio.Event()

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

    async def _handle(self, polled: dict[TopicPartition, list[object]]) -> None:
        """Publish any outbox backlog, then process the batch; retry both until they succeed."""
        started = time.monotonic()
        incoming = [self._decode(record) for records in polled.values() for record in records]
        delay = self.settings.retry_initial_seconds
        while True:
            try:
                await self._drain_outbox_if_needed()
                if incoming:
                    await self._process(incoming)
                self.health.retrying = None
                break
            except ServiceError as error:
                if not error.retriable or self._stopping.is_set():
                    raise
                self._note_failure(error)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # backoff, not a sync
                delay = min(delay * 2, self.settings.retry_max_seconds)
                self._to_drain = None
        if polled:
            await self._commit(polled)
            self.health.progressed()
            self.metrics.batch_seconds.observe(time.monotonic() - started)

    def _decode(self, record: object) -> Incoming:
        topic, partition, offset = record.topic, record.partition, record.offset  # type: ignore[attr-defined]
        key, value = record.key, record.value  # type: ignore[attr-defined]
        headers = tuple(record.headers or ())  # type: ignore[attr-defined]
        timestamp = record.timestamp  # type: ignore[attr-defined]
        try:
            command = decode_command(value, headers, self.settings.max_command_bytes)
            return Incoming(topic, partition, offset, timestamp, key, value, headers, command, None)
        except Undecodable as error:
            return Incoming(topic, partition, offset, timestamp, key, value, headers, None, error)

    async def _process(self, incoming: list[Incoming]) -> None:
        current = await self.store.load(referral_ids(incoming))
        seen = await self.store.seen(command_ids(incoming))
        decided = decide_batch(incoming, current, seen, self.clock(), self.settings, self.policy)
        stored = await self.store.write(decided.write)
        self.health.store_ok = True
        await self._publish(stored)
        oldest = min((item.timestamp_ms for item in incoming), default=None)
        self._report(decided.outcomes, oldest)

    async def _publish(self, entries: list[OutboxEntry]) -> None:
        if not entries:
            return
        try:
            acks = [
                await self.producer.send(
                    entry.record.topic,
                    value=entry.record.value,
                    key=entry.record.key,
                    headers=list(entry.record.headers),
                )
                for entry in entries
            ]
            await asyncio.gather(*acks)
        except KafkaError as error:
            self.health.broker_ok = False
            raise BrokerUnavailable(f"publishing failed: {error}") from error
        self.health.broker_ok = True
        await self.store.mark_published([entry.seq for entry in entries])
        for entry in entries:
            self.metrics.events_published.labels(entry.record.kind).inc()

    async def _drain_outbox_if_needed(self) -> None:
        partitions = self._to_drain
        if partitions is not None and not partitions:
            return
        pending = await self.store.pending(partitions)
        self.health.store_ok = True
        if pending:
            log.info("publishing outbox backlog", extra={"records": len(pending)})
        await self._publish(pending)
        self._to_drain = set()

    async def _commit(self, polled: dict[TopicPartition, list[object]]) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in polled.items()}  # type: ignore[attr-defined]
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
            component = "broker" if isinstance(error, BrokerUnavailable) else "store"
            self.health.retrying = component
        self.metrics.retries.labels(component).inc()
        log.warning("batch failed, retrying", extra={"component": component, "error": str(error)})

    def _report(self, outcomes: list[Outcome], oldest_timestamp_ms: int | None) -> None:
        metrics = self.metrics
        for outcome in outcomes:
            if outcome.outcome == "dead_lettered":
                metrics.dead_letters.labels(outcome.code).inc()
            metrics.commands.labels(outcome.command_type, outcome.outcome, outcome.code).inc()
            for event in outcome.events:
                _report_event(metrics, event)
        if oldest_timestamp_ms is not None:
            latency = max(time.time() - oldest_timestamp_ms / 1000, 0.0)
            metrics.command_to_event_seconds.observe(latency)

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


def _report_event(metrics: Metrics, event: ReferralEvent) -> None:
    previous = (event.previous_status, event.previous_substatus)
    if event.previous_status is not None and previous != (event.status, event.substatus):
        metrics.transitions.labels(*previous, event.status, event.substatus).inc()
    created = event.referral.created_date_time
    if created is None:
        return
    if event.type is EventType.ACCEPTED and event.referral.accepted_date_time is not None:
        metrics.time_to_accept.observe(
            (event.referral.accepted_date_time - created).total_seconds()
        )
    closing = {EventType.WON, EventType.LOST, EventType.DECLINED, EventType.EXPIRED}
    if event.type in closing and event.previous_status != event.status:
        assert event.referral.closed_date_time is not None
        lifetime = (event.referral.closed_date_time - created).total_seconds()
        metrics.time_to_close.labels(event.substatus.value.lower()).observe(lifetime)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        await self.pipeline.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self.pipeline.assigned(assigned)
