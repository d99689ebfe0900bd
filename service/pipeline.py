"""The consume loop: the one place that decides to retry, reject or dead-letter.

Per polled batch: decode -> dedupe -> load -> decide -> ONE store transaction (referrals,
processed commands, outbox) -> publish the outbox -> delete what Kafka acknowledged ->
commit offsets. The commit is a round trip of its own that the next batch need not wait
for: it runs while the next poll and batch do, one at a time, and is awaited before a
partition is let go and before the loop ends.

An outage (store or broker away, another replica's write) retries the whole batch with
backoff and without committing; because the transaction records which commands it
processed, a retry or a redelivery after a crash never applies a command twice, and
unpublished outbox rows are published first, in order.

Any other failure may belong to one record (a poison record). The batch is then processed
again record by record: the records that succeed are applied, and a record that fails on
its own ``poison_attempts`` times is dead-lettered (``processing-failed``) so that it
neither ends the process nor holds up the records behind it. Writing that dead letter is
the evidence: when even it cannot be written, the fault is not the record's, and the loop
keeps retrying as for an outage.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service.batch import (
    ConsumedRecord,
    Incoming,
    command_keys,
    decide_batch,
    policy_of,
    read_record,
    referral_keys,
)
from service.codec import WireLimits
from service.consumer_health import report_lag
from service.dead_letters import encode_dead_letter
from service.errors import (
    BrokerRefused,
    BrokerUnavailable,
    RecordFailed,
    ServiceError,
    StaleWrite,
    StoreRefused,
    backoff,
)
from service.health import Component, Health
from service.metrics import Metrics
from service.ownership import Partitions, Rebalance
from service.publisher import OutboxPublisher, RerouteSettings
from service.recent import RecentReferrals
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, Store
from service.tracing import NO_TRACING, Tracing

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


Polled = Mapping[TopicPartition, Sequence[ConsumedRecord]]


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
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.settings = settings
        self.store = store
        self.consumer = consumer
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.tracing = tracing
        self.policy = policy_of(settings)
        self.wire_limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
        reroute = RerouteSettings(
            settings.dlq_topic, settings.max_record_bytes, settings.poison_attempts
        )
        self.publisher = OutboxPublisher(producer, store, reroute, metrics, health)
        self._batch_lock = asyncio.Lock()
        self.partitions = Partitions()
        self.recent = RecentReferrals(settings.referral_cache_size)
        self._stopping = asyncio.Event()
        self._stage = "decide"
        #: The offset commit of the last batch, while it is in flight.
        self._committing: asyncio.Task[None] | None = None

    def subscribe(self) -> None:
        listener = Rebalance(
            self.partitions,
            self.consumer,
            self._batch_lock,
            self.metrics,
            self.health,
            self.settings.shutdown_timeout_seconds,
            self.recent.forget,
            self.committed,
        )
        self.consumer.subscribe(self.settings.command_topics, listener=listener)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until ``stop()``; the batch in hand is finished, and its offsets
        committed, first."""
        try:
            while not self._stopping.is_set():
                polled = await self.consumer.getmany(
                    timeout_ms=500, max_records=self.settings.max_batch_size
                )
                async with self._batch_lock:
                    with self.tracing.batch(sum(map(len, polled.values()))):
                        await self._handle(polled)
                await report_lag(self.consumer, self.metrics, self.health)
        finally:
            await self.committed()

    async def committed(self) -> None:
        """Return once the offset commit in flight, if any, has ended."""
        if self._committing is not None:
            await asyncio.shield(self._committing)

    async def _handle(self, polled: Polled) -> None:
        """Publish any outbox backlog, then process the batch; every record ends with an
        outcome before the offsets are committed."""
        started = time.monotonic()
        incoming = [
            read_record(record, self.wire_limits, self.settings.topic_tenants)
            for records in polled.values()
            for record in records
        ]
        incoming = self.tracing.follow(incoming)
        try:
            await self._until_done(lambda: self._attempt(incoming))
        except RecordFailed as failure:
            log.warning("batch failed; isolating its records", extra={"cause": failure.describe()})
            for item in incoming:
                with self.tracing.command(item):
                    await self._process_alone(item)
        if polled:
            self.metrics.batch_seconds.observe(time.monotonic() - started)
            # One commit in flight at most, so they land in order; a commit that failed
            # in a way Kafka does not name is raised here, ending the loop.
            await self.committed()
            offsets = {tp: records[-1].offset + 1 for tp, records in polled.items()}
            self._committing = asyncio.create_task(self._commit(offsets))

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
                self.partitions.failed()

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

    async def _process(self, incoming: list[Incoming]) -> None:
        self._stage = "store"
        with self.metrics.timed("load"):
            current, seen = await self.store.load_batch(
                referral_keys(incoming, self.settings.max_attribute_length),
                command_keys(incoming),
                self.recent.view(),
            )
        self.recent.keep(current.values())
        self._stage = "decide"
        with self.metrics.timed("decide"):
            now = self.clock()
            decided = decide_batch(incoming, current, seen, now, self.settings, self.policy)
        self._stage = "store"
        writing = self.tracing.span("referrals store write", len(decided.write.outbox))
        with writing, self.metrics.timed("write"):
            stored = await self.store.write(decided.write)
        self.recent.keep(write.record for write in decided.write.referrals)
        self.health.store_ok = True
        self._stage = "publish"
        with self.tracing.span("referrals publish", len(stored)), self.metrics.timed("publish"):
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
        self.metrics.report_poison(failure.stage, command_type)
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
        if not self.partitions.backlog_possible:
            return
        await self.publisher.publish(None)
        self.health.store_ok = True
        self.partitions.drained()

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit a batch's offsets. A commit Kafka refuses is covered by a later one, or
        the batch is redelivered and its commands recognised as processed."""
        try:
            with self.metrics.timed("commit"):
                await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The partition moved to another replica; it continues from the last commit and
            # recognises the commands this batch already applied.
            log.warning("offset commit refused after rebalance", extra={"error": str(error)})
        except KafkaError as error:
            log.warning(
                "offset commit failed; a later commit covers it", extra={"error": str(error)}
            )
        self.health.progressed()

    def _note_failure(self, error: ServiceError) -> None:
        if isinstance(error, StaleWrite):
            # Another replica wrote one of the referrals: decide the batch again, no outage.
            component = Component.CONFLICT
        else:
            broker = isinstance(error, BrokerUnavailable | BrokerRefused)
            component = Component.BROKER if broker else Component.STORE
            self.health.retrying = component
        self.metrics.retries.labels(component).inc()
        log.warning("batch failed, retrying", extra={"component": component, "error": str(error)})
