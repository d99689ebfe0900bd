"""The consume loop: poll a batch, decide it beside the batch in flight, and hand it over.

The poll is guarded (``unreadable``): a record the Kafka client cannot parse is found,
the records around it are delivered once and in order, and it comes as a placeholder that
is dead-lettered (``unreadable-record``) like any record that is no command.

Per polled batch: decode -> load -> dedupe and decide -> ONE store transaction (referrals,
processed commands, outbox) -> publish the outbox -> commit offsets. The next batch does
not wait for a batch to land (``landing``): while one is in flight, the loop reads and
decides the next, as if the batch in flight were stored (its referrals and command ids are
the next decision's). That decision stands once the batch in flight has landed, or once it
is written itself; otherwise it is dropped and made again in order, after recovery has
processed the failed batch. A batch whose decision failed goes to recovery (``recovery``)
in the loop, and its offsets are committed once it is done.
"""

import asyncio
import time
from collections.abc import Collection

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.codec import WireLimits
from service.consume.decision import DecidedBatch
from service.consume.lag import report_lag
from service.consume.landing import Landing, Preparation, Ready
from service.consume.ownership import Partitions, Rebalance
from service.consume.recent import RecentReferrals
from service.consume.records import Incoming, read_record, read_unreadable
from service.consume.recovery import Recovery
from service.consume.stages import BatchStages, tried
from service.consume.tracing import Tracing
from service.consume.unreadable import Polled, PollGuard
from service.errors import RecordFailed
from service.health import Health
from service.metrics import Metrics
from service.settings import Settings
from service.tenancy import Tenancy

#: What a batch's decision came to: ready to go, a failure that may be a record's, or
#: None (nothing decided yet, or an outage: the batch is then handled in order).
Decision = Ready | RecordFailed | None


class ConsumeLoop:
    """Polls the command topics until stopped; every record ends with an outcome."""

    def __init__(
        self,
        settings: Settings,
        consumer: AIOKafkaConsumer,
        stages: BatchStages,
        preparation: Preparation,
        landing: Landing,
        recovery: Recovery,
        recent: RecentReferrals,
        guard: PollGuard,
        stopping: asyncio.Event,
        tenancy: Tenancy | None = None,
    ) -> None:
        self.settings = settings
        # Without the expiry key, no expiry on the shared topic acts as a tenant it names.
        self.tenancy = tenancy or Tenancy(settings.topic_tenants)
        self.consumer = consumer
        self.stages = stages
        self.preparation = preparation
        self.landing = landing
        self.recovery = recovery
        self.recent = recent
        self.guard = guard
        self.stopping = stopping
        self.wire_limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
        self._batch_lock = asyncio.Lock()

    @property
    def partitions(self) -> Partitions:
        return self.stages.partitions

    @property
    def metrics(self) -> Metrics:
        return self.stages.metrics

    @property
    def health(self) -> Health:
        return self.stages.health

    @property
    def tracing(self) -> Tracing:
        return self.stages.tracing

    def subscribe(self) -> None:
        listener = Rebalance(
            self.partitions,
            self.consumer,
            self._batch_lock,
            self.metrics,
            self.health,
            self.settings.shutdown_timeout_seconds,
            self._moved,
            self.landing.landed,
        )
        self.consumer.subscribe(self.settings.command_topics, listener=listener)

    def _moved(self, partitions: Collection[TopicPartition]) -> None:
        self.recent.forget()
        self.guard.forget(partitions)

    def stop(self) -> None:
        self.stopping.set()

    async def close(self) -> None:
        """Let go of what the loop opened beside the consumer."""
        await self.guard.close()

    async def run(self) -> None:
        """Consume until ``stop()``; the batch in hand is finished, and its offsets
        committed, first."""
        try:
            while not self.stopping.is_set():
                with self.landing.waiting_for_records():
                    polled = await self.guard.poll(500, self.settings.max_batch_size)
                async with self._batch_lock:
                    with self.tracing.batch(polled.count()):
                        await self._step(polled)
                await report_lag(self.consumer, self.metrics, self.health)
        finally:
            await self.landing.landed()

    async def _step(self, polled: Polled) -> None:
        """Decide the polled batch beside the batch in flight, land that one, then send
        this one on its way (or through recovery, when its decision failed)."""
        started = time.monotonic()
        incoming = self.tracing.follow(self._read(polled))
        ahead = await self._decide_ahead(incoming)
        landed = await self.landing.land()
        decision = self._still_standing(ahead, landed)
        if not isinstance(decision, Ready):
            self.landing.settle()  # before the batch is decided, or handled, in order
        if not incoming:
            await self.recovery.handle(incoming)  # publishes a backlog the outbox may hold
            return
        if decision is None and not self.partitions.backlog_possible:
            decision = await self._ready(await tried(self.stages.decide(incoming)))
        if isinstance(decision, Ready):
            self.landing.launch(polled.next_offsets(), incoming, decision, started)
            await asyncio.sleep(0)  # its landing starts before the next batch is read
            return  # the batch before it is settled as the loop waits for records
        await self.recovery.settle(incoming, decision)
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        self.landing.commits.hand_over(polled.next_offsets())

    def _read(self, polled: Polled) -> list[Incoming]:
        """The polled records read, then a placeholder for each the client could not."""
        limits, tenancy = self.wire_limits, self.tenancy
        records = polled.records.values()
        fast = self.settings.fast_path
        read = [read_record(record, limits, tenancy, fast) for rs in records for record in rs]
        return read + [read_unreadable(found) for found in polled.unreadable]

    async def _decide_ahead(self, incoming: list[Incoming]) -> Decision:
        """The batch decided (and readied) as if the batch in flight were stored, while it
        lands; None when there is nothing to decide beside."""
        assumed = self.landing.assumed()
        if not incoming or assumed is None:
            return None
        return await self._ready(await tried(self.stages.decide(incoming, assumed)))

    async def _ready(self, decided: DecidedBatch | RecordFailed | None) -> Decision:
        if isinstance(decided, DecidedBatch):
            return await self.preparation.ready(decided)
        return decided

    def _still_standing(self, ahead: Decision, landed: bool) -> Decision:
        """What was decided beside the batch in flight, if it still stands: it does once
        that batch landed, or once it was written itself."""
        if isinstance(ahead, Ready):
            kept = landed or ahead.stored is not None
            self.metrics.decided_ahead.labels("kept" if kept else "dropped").inc()
            return ahead if kept else None
        return ahead if landed else None
