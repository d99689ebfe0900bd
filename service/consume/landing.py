"""Landing: the batch in flight, its publish, then its offsets handed over.

A decided batch is sent on its way: its publish (and its write, where the store writes in
flight) runs while the loop decides the next batch, then its offsets are handed over to be
committed (``commits``: in order, without holding up the next batch). One batch is in
flight at most; a batch has landed, and its offsets are committed, before a partition is
let go and before the loop ends. A batch in flight that failed is processed again here,
through recovery, before the next one goes: what was decided beside it then no longer
stands, unless it was written already.

Where a batch is written is the store's choice, made once (``Preparation``): PostgreSQL's
writes are a server's work, and SQLite's where a core is spare for its thread, so a batch is
written in flight, beside the next decision; otherwise SQLite's are this process's, so a
batch is written in the loop before it goes, and the next one is written while the broker
acknowledges the first one's events (if they do not land, what both stored is the outbox's
backlog, published in order before anything else).

The chain of a backlog's batches (a write, its publish, the next write...) bounds how fast
it drains, so a landing holds nothing else: the write's rows are built before it starts
(``Preparation``), and what follows a landed batch (its referrals kept for the next
decisions, its outcomes counted: ``BatchStages.settle``) is done by the loop once the next
batch is on its way, or at once when the loop is waiting for records.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from service.consume.commits import OffsetCommits, Offsets
from service.consume.decision import Assumed, DecidedBatch
from service.consume.ownership import Partitions
from service.consume.records import Incoming
from service.consume.recovery import Recovery
from service.consume.stages import BatchStages, tried
from service.errors import RecordFailed, Stage, failing_as, is_outage
from service.metrics import Metrics
from service.store import OutboxEntry, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ready:
    """A decided batch ready to go; ``stored``: its outbox entries, once it is written (it
    then stands whether the batch before it lands or not)."""

    decided: DecidedBatch
    stored: list[OutboxEntry] | None = None


class Preparation:
    """Readies a decided batch where the store writes in flight: what its write needs is
    built here (``Store.prepare``), while the batch before it lands."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def ready(self, decided: DecidedBatch) -> Ready | RecordFailed | None:
        try:
            with failing_as(Stage.STORE):  # what the write would fail on, it fails on here
                self.store.prepare(decided.write)
        except RecordFailed as failure:
            return failure
        return Ready(decided)


class WriteFirst(Preparation):
    """Readies a decided batch by writing it here, before it goes (SQLite)."""

    def __init__(self, stages: BatchStages) -> None:
        super().__init__(stages.store)
        self.stages = stages

    async def ready(self, decided: DecidedBatch) -> Ready | RecordFailed | None:
        stored = await tried(self.stages.write(decided))
        return Ready(decided, stored) if isinstance(stored, list) else stored


def preparation(store: Store, stages: BatchStages) -> Preparation:
    """The store's choice of where a batch is written, made once."""
    return Preparation(store) if store.writes_beside_decisions else WriteFirst(stages)


@dataclass(frozen=True, slots=True)
class InFlight:
    """The last batch, landing in ``task``: its write (unless written already) and publish,
    then its offsets handed over."""

    offsets: Offsets
    incoming: list[Incoming]
    decided: DecidedBatch
    task: asyncio.Task[None]


class Landing:
    """The batch in flight and the offset commits."""

    def __init__(
        self,
        commits: OffsetCommits,
        stages: BatchStages,
        recovery: Recovery,
        partitions: Partitions,
        metrics: Metrics,
    ) -> None:
        self.commits = commits
        self.stages = stages
        self.recovery = recovery
        self.partitions = partitions
        self.metrics = metrics
        self._in_flight: InFlight | None = None
        #: Batches that landed and are yet to be settled, oldest first.
        self._unsettled: deque[tuple[list[Incoming], DecidedBatch]] = deque()
        self._waiting_for_records = False

    def assumed(self) -> Assumed | None:
        """What a decision beside the batch in flight takes as stored; None when no batch
        is landing (there is nothing to decide beside) or the outbox may hold a backlog
        (the next batch then goes in order)."""
        in_flight = self._in_flight
        if in_flight is None or in_flight.task.done() or self.partitions.backlog_possible:
            return None
        return in_flight.decided.assumed()

    def launch(
        self, offsets: Offsets, incoming: list[Incoming], ready: Ready, started: float
    ) -> None:
        """Send a ready batch on its way (polled at ``started``); the loop goes on."""
        landing = self._land(offsets, incoming, ready, started)
        self._in_flight = InFlight(offsets, incoming, ready.decided, asyncio.create_task(landing))

    async def land(self) -> bool:
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
            await self.recovery.isolate(in_flight.incoming, failure)
        except Exception as error:
            if is_outage(error):
                self.recovery.note_failure(error)
            else:
                log.warning("batch failed; processing it again", extra={"error": str(error)})
            self.partitions.failed()
            await self.recovery.handle(in_flight.incoming)
        self.commits.hand_over(in_flight.offsets)
        return False

    def settle(self) -> None:
        """Settle the batches that landed since the last call (``BatchStages.settle``)."""
        while self._unsettled:
            self.stages.settle(*self._unsettled.popleft())

    @contextlib.contextmanager
    def waiting_for_records(self) -> Iterator[None]:
        """While the loop waits for records, a batch that lands is settled at once."""
        self.settle()
        self._waiting_for_records = True
        try:
            yield
        finally:
            self._waiting_for_records = False

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
        self.settle()
        try:
            await self.commits.committed()
        except Exception as error:
            log.warning("offset commit failed", extra={"error": str(error)})

    async def _land(
        self, offsets: Offsets, incoming: list[Incoming], ready: Ready, started: float
    ) -> None:
        """Write the batch (unless written already) and publish it, then hand its offsets
        over to be committed: what lands while the next batch is decided."""
        stored = ready.stored
        if stored is None:
            stored = await self.stages.write(ready.decided)
        await self.stages.publish(stored)
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        self.commits.hand_over(offsets)
        self._unsettled.append((incoming, ready.decided))
        if self._waiting_for_records:
            self.settle()
