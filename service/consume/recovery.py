"""Recovery: a batch that failed is processed again, and every record ends with an outcome.

An outage (store or broker away, another replica's write) retries the whole batch with
backoff and without committing; because the transaction records which commands it
processed, a retry or a redelivery after a crash never applies a command twice, and
unpublished outbox rows are published first, in order.

Any other failure may belong to one record (a poison record). The batch is then processed
again record by record, not whole (it would fail the same way on the same inputs): the
records that succeed are applied, and a record that fails on its own ``poison_attempts``
times is dead-lettered (``processing-failed``) so that it neither ends the process nor
holds up the records behind it (after one attempt alone, where it failed in decoding or
deciding: the same input fails the same way). When the dead letter itself cannot be
stored or published for what it holds, a minimal one is (no original headers but their
count and digest, the key hashed, the value cut with its size and sha256); when even that
fails, the fault is not the record's, and it is retried as for an outage.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from service.consume.ownership import Partitions
from service.consume.records import Incoming
from service.consume.stages import BatchStages
from service.consume.tracing import Tracing
from service.errors import (
    BrokerRefused,
    BrokerUnavailable,
    Component,
    RecordFailed,
    ServiceError,
    StaleWrite,
    StoreRefused,
    backoff,
    is_outage,
)
from service.health import Health
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)


class Recovery:
    """Processes a failed batch again: in order with retries, or record by record."""

    def __init__(
        self,
        settings: Settings,
        stages: BatchStages,
        partitions: Partitions,
        metrics: Metrics,
        health: Health,
        tracing: Tracing,
        stopping: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.stages = stages
        self.partitions = partitions
        self.metrics = metrics
        self.health = health
        self.tracing = tracing
        self.stopping = stopping

    async def settle(self, incoming: list[Incoming], failure: RecordFailed | None) -> None:
        """Process a batch whose first attempt failed: in order after an outage (None),
        record by record after a failure that may be a record's."""
        if failure is None:
            await self.handle(incoming)
        else:
            await self.isolate(incoming, failure)

    async def handle(self, incoming: list[Incoming]) -> None:
        """Publish any outbox backlog, then process the batch in order, retrying outages
        and isolating a record that fails on its own; every record ends with an outcome."""
        try:
            await self._until_done(lambda: self.stages.process(incoming))
        except RecordFailed as failure:
            await self.isolate(incoming, failure)

    async def isolate(self, incoming: list[Incoming], failure: RecordFailed) -> None:
        """Process the records of a batch that failed, each alone."""
        log.warning("batch failed; isolating its records", extra={"cause": failure.describe()})
        for item in incoming:
            with self.tracing.command(item):
                await self._process_alone(item)

    def note_failure(self, error: ServiceError) -> None:
        """Count and report a failed attempt; readiness names the dependency it waits for."""
        if isinstance(error, StaleWrite):
            # Another replica wrote one of the referrals: decide the batch again, no outage.
            component = Component.CONFLICT
        else:
            broker = isinstance(error, BrokerUnavailable | BrokerRefused)
            component = Component.BROKER if broker else Component.STORE
            self.health.retrying = component
        self.metrics.retries.labels(component).inc()
        log.warning("batch failed, retrying", extra={"component": component, "error": str(error)})

    async def _until_done(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` until it succeeds, retrying outages with backoff and without limit;
        any other failure is raised as the stage's RecordFailed (it may be a record's)."""
        delays = backoff(self.settings.retry_initial_seconds, self.settings.retry_max_seconds)
        while True:
            try:
                await work()
                self.health.retrying = None
                return
            except Exception as error:
                if self.stopping.is_set() or not is_outage(error):
                    raise
                self.note_failure(error)
                await asyncio.sleep(next(delays))  # backoff, not a synchronisation
                self.partitions.failed()

    async def _process_alone(self, item: Incoming) -> None:
        """Process one record of a failed batch; after ``poison_attempts`` failures of its
        own (one, where it failed in a stage whose failures are deterministic), dead-letter
        it (a failure to write that dead letter is an outage, retried)."""
        delays = backoff(self.settings.retry_initial_seconds, self.settings.retry_max_seconds)
        failure: RecordFailed | None = None
        for _ in range(self.settings.poison_attempts):
            try:
                await self._until_done(lambda: self.stages.process([item]))
                return
            except RecordFailed as error:
                failure = error
                if error.stage.deterministic:
                    break  # the same input fails the same way: no retry can help
                await asyncio.sleep(next(delays))  # backoff, not a synchronisation
        assert failure is not None
        letter = self.stages.dead_letter
        try:
            await self._until_done(lambda: letter(item, failure))
            return
        except RecordFailed as error:  # the copy holds what cannot be stored: not an outage
            log.warning("dead letter cut to its minimum", extra={"cause": error.describe()})
        while True:
            try:
                await self._until_done(lambda: letter(item, failure, minimal=True))
                return
            except RecordFailed as error:
                self.note_failure(StoreRefused(error.describe()))
                await asyncio.sleep(next(delays))  # backoff, not a synchronisation
