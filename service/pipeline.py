"""The consume loop: the one place that decides to retry, reject or dead-letter.

Per polled batch: decode -> dedupe -> load -> decide -> ONE store transaction (referrals,
processed commands, outbox) -> publish the outbox -> delete what Kafka acknowledged ->
commit offsets. The next batch does not wait for a batch to land: while its publish (and,
on a store whose writes are a server's work, PostgreSQL, its write too) and its offset
commit are in flight, the loop reads and decides the next batch, as if the batch in
flight were stored (its referrals and command ids are the next decision's). On
PostgreSQL that decision is kept only once the batch in flight has landed; if it failed,
the decision is dropped and the failed batch is processed again in order, as any batch
that fails. On SQLite the batch in flight was written before it went, so the next one is
written while the first one's events are acknowledged, and stands either way: if that
publish fails, the outbox holds both batches' events, published in order before anything
else. One batch is in flight at most; it has landed before a partition is let go and
before the loop ends.

An outage (store or broker away, another replica's write) retries the whole batch with
backoff and without committing; because the transaction records which commands it
processed, a retry or a redelivery after a crash never applies a command twice, and
unpublished outbox rows are published first, in order.

Any other failure may belong to one record (a poison record). The batch is then processed
again record by record, not whole (it would fail the same way on the same inputs): the
records that succeed are applied, and a record that fails on its own ``poison_attempts``
times is dead-lettered (``processing-failed``) so that it neither ends the process nor
holds up the records behind it. Writing that dead letter is the evidence: when even it
cannot be written, the fault is not the record's, and the loop keeps retrying as for an
outage.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service.batch import (
    ConsumedRecord,
    DecidedBatch,
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
    is_outage,
)
from service.health import Component, Health
from service.metrics import Metrics
from service.ownership import Partitions, Rebalance
from service.publisher import OutboxPublisher, RerouteSettings
from service.recent import RecentReferrals
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, Store
from service.tracing import NO_TRACING, Tracing
from state import CommandKey, ReferralKey, ReferralRecord

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


Polled = Mapping[TopicPartition, Sequence[ConsumedRecord]]


@dataclass(frozen=True, slots=True)
class InFlight:
    """The last batch, decided and landing in ``task``: its publish (its write first, where
    the store writes beside decisions), then the start of its offset commit. The loop
    takes its referrals and commands as stored."""

    polled: Polled
    incoming: list[Incoming]
    decided: DecidedBatch
    task: asyncio.Task[None]


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
        self._in_flight: InFlight | None = None
        #: The offset commit of the last batch that landed, while it is in flight.
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
            self.landed,
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
                        await self._step(polled)
                await report_lag(self.consumer, self.metrics, self.health)
        finally:
            await self.landed()

    async def landed(self) -> None:
        """Return once the batch in flight, if any, has landed and the last offset commit
        has ended. A batch that failed is let go uncommitted, so its records are delivered
        again (to whichever replica owns them)."""
        in_flight = self._in_flight
        if in_flight is not None:
            try:
                await asyncio.shield(in_flight.task)
            except Exception as error:
                log.warning("batch let go uncommitted", extra={"error": str(error)})
            if self._in_flight is in_flight:
                self._in_flight = None
        try:
            await self.committed()
        except Exception as error:
            log.warning("offset commit failed", extra={"error": str(error)})

    async def committed(self) -> None:
        """Return once the offset commit in flight, if any, has ended (raising what it
        raised, other than a refusal by Kafka, which it logs)."""
        if self._committing is not None:
            await asyncio.shield(self._committing)

    async def _commit_next(self, polled: Polled) -> None:
        """Start committing a batch's offsets once the commit before it has ended: one is in
        flight at most, so they land in order, and the next batch does not wait for it."""
        await self.committed()
        self._committing = asyncio.create_task(self._commit(_offsets(polled)))

    async def _step(self, polled: Polled) -> None:
        """Decide the polled batch beside the batch in flight (and write it, where the store
        does not write beside decisions), land that one, then send this one on its way.
        With a backlog possible in the outbox, the batch goes in order."""
        started = time.monotonic()
        incoming = [
            read_record(record, self.wire_limits, self.settings.topic_tenants)
            for records in polled.values()
            for record in records
        ]
        incoming = self.tracing.follow(incoming)
        ahead = await self._decide_ahead(incoming)
        stored: list[OutboxEntry] | None = None
        if isinstance(ahead, DecidedBatch) and not self.store.writes_beside_decisions:
            # The batch in flight was written before it went, so this one is written while
            # the broker acknowledges that one's events: it stands whether they land or not
            # (if not, what both stored is published as the outbox's backlog, in order).
            written = await self._written_or_failed(ahead)
            if isinstance(written, list):
                stored = written
            else:
                ahead = written
        kept = await self._land() or stored is not None
        if isinstance(ahead, DecidedBatch):
            self.metrics.decided_ahead.labels("kept" if kept else "dropped").inc()
        if not kept:
            ahead = None  # decided on a batch that did not land
        if not polled:
            await self._handle(incoming)  # publishes a backlog the outbox may hold
            return
        decided = ahead
        if decided is None and self._no_backlog():
            decided = await self._decided_or_failed(incoming)
        if (
            isinstance(decided, DecidedBatch)
            and stored is None
            and not self.store.writes_beside_decisions
        ):
            written = await self._written_or_failed(decided)  # here, then published in flight
            if isinstance(written, list):
                stored = written
            else:
                decided = written
        if isinstance(decided, DecidedBatch):
            landing = self._land_decided(polled, incoming, decided, started, stored)
            self._in_flight = InFlight(polled, incoming, decided, asyncio.create_task(landing))
            return
        if decided is None:
            await self._handle(incoming)
        else:
            await self._isolate(incoming, decided)
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        await self._commit_next(polled)

    def _no_backlog(self) -> bool:
        """Whether the outbox is known to hold only rows of the batch in flight; else the
        next batch is handled in order, which publishes the backlog first."""
        return not self.partitions.backlog_possible

    async def _decide_ahead(self, incoming: list[Incoming]) -> DecidedBatch | RecordFailed | None:
        """The batch decided as if the one in flight were stored, while it lands; None
        when there is nothing to decide beside or an outage stopped it (it is then done
        again, in order, once the batch in flight has landed)."""
        in_flight = self._in_flight
        if not incoming or in_flight is None:
            return None
        if in_flight.task.done() or not self._no_backlog():
            return None
        write = in_flight.decided.write
        stored = {w.record.key: w.record for w in write.referrals}
        processed = {CommandKey(p.tenant_id, p.command_id) for p in write.processed}
        return await self._decided_or_failed(incoming, stored, processed)

    async def _decided_or_failed(
        self,
        incoming: list[Incoming],
        landing: Mapping[ReferralKey, ReferralRecord] | None = None,
        processed: set[CommandKey] | None = None,
    ) -> DecidedBatch | RecordFailed | None:
        """``_decided``; if it failed, None for an outage (the batch is then handled in
        order, with retries), else the failure, which may be a record's."""
        try:
            return await self._decided(incoming, landing, processed)
        except Exception as error:
            return self._failure(error)

    def _failure(self, error: Exception) -> RecordFailed | None:
        """A batch's failure: None for an outage, to be retried whole; else a RecordFailed,
        whose records are isolated without another attempt of the whole batch (it would
        fail the same way on the same inputs)."""
        if is_outage(error):
            log.info("batch to be handled in order", extra={"error": str(error)})
            return None
        return RecordFailed(self._stage, error)

    async def _decided(
        self,
        incoming: list[Incoming],
        landing: Mapping[ReferralKey, ReferralRecord] | None = None,
        processed: set[CommandKey] | None = None,
    ) -> DecidedBatch:
        """Load and decide, taking ``landing`` and ``processed`` as stored."""
        landing, processed = landing or {}, processed or set()
        wanted = referral_keys(incoming, self.settings.max_attribute_length)
        commands = command_keys(incoming)
        recent = self.recent.view()
        # Only what this batch names: the cache changes as the batch in flight lands.
        cached = {key: recent[key] for key in wanted if key in recent}
        self._stage = "store"
        with self.metrics.timed("load"):
            current, seen = await self.store.load_batch(
                wanted - landing.keys(), commands - processed, cached
            )
        self.recent.keep(current.values())
        current.update({key: landing[key] for key in wanted & landing.keys()})
        seen |= processed & commands
        self._stage = "decide"
        with self.metrics.timed("decide"):
            now = self.clock()
            return decide_batch(incoming, current, seen, now, self.settings, self.policy)

    async def _land(self) -> bool:
        """Wait for the batch in flight; False if it failed and was processed again here, in
        order or record by record (what was decided beside it no longer stands)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return True
        try:
            await in_flight.task
            return True
        except RecordFailed as failure:
            self.partitions.failed()
            await self._isolate(in_flight.incoming, failure)
        except Exception as error:
            if is_outage(error):
                self._note_failure(error)
            else:
                log.warning("batch failed; processing it again", extra={"error": str(error)})
            self.partitions.failed()
            await self._handle(in_flight.incoming)
        await self._commit_next(in_flight.polled)
        return False

    async def _written_or_failed(
        self, decided: DecidedBatch
    ) -> list[OutboxEntry] | RecordFailed | None:
        """The decided batch stored; if that failed (nothing was), None for an outage, else
        the failure, which may be a record's."""
        self._stage = "store"
        try:
            return await self._write(decided)
        except Exception as error:
            return self._failure(error)

    async def _write(self, decided: DecidedBatch) -> list[OutboxEntry]:
        writing = self.tracing.span("referrals store write", len(decided.write.outbox))
        with writing, self.metrics.timed("write"):
            stored = await self.store.write(decided.write)
        self.recent.keep(write.record for write in decided.write.referrals)
        self.health.store_ok = True
        return stored

    async def _land_decided(
        self,
        polled: Polled,
        incoming: list[Incoming],
        decided: DecidedBatch,
        started: float,
        stored: list[OutboxEntry] | None,
    ) -> None:
        """Store a decided batch (unless ``stored`` already) and publish it, then start its
        offset commit: what lands while the next batch is decided. A failure that is not
        an outage is raised as the RecordFailed of its stage."""
        stage = "store"
        try:
            if stored is None:
                stored = await self._write(decided)
            stage = "publish"
            await self._publish(incoming, decided, stored)
        except Exception as error:
            if is_outage(error):
                raise
            raise RecordFailed(stage, error) from error
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        await self._commit_next(polled)

    async def _publish(
        self, incoming: list[Incoming], decided: DecidedBatch, stored: list[OutboxEntry]
    ) -> None:
        with self.tracing.span("referrals publish", len(stored)), self.metrics.timed("publish"):
            await self.publisher.publish(stored)
        oldest = min((item.timestamp_ms for item in incoming), default=None)
        self.metrics.report(decided.outcomes, oldest)

    async def _handle(self, incoming: list[Incoming]) -> None:
        """Publish any outbox backlog, then process the batch in order, retrying outages
        and isolating a record that fails on its own; every record ends with an outcome."""
        try:
            await self._until_done(lambda: self._attempt(incoming))
        except RecordFailed as failure:
            await self._isolate(incoming, failure)

    async def _isolate(self, incoming: list[Incoming], failure: RecordFailed) -> None:
        """Process the records of a batch that failed, each alone."""
        log.warning("batch failed; isolating its records", extra={"cause": failure.describe()})
        for item in incoming:
            with self.tracing.command(item):
                await self._process_alone(item)

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
                if not is_outage(error):
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
        decided = await self._decided(incoming)
        self._stage = "store"
        stored = await self._write(decided)
        self._stage = "publish"
        await self._publish(incoming, decided, stored)

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


def _offsets(polled: Polled) -> dict[TopicPartition, int]:
    return {tp: records[-1].offset + 1 for tp, records in polled.items()}
