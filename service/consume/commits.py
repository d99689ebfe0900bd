"""Offset commits in order, one in flight, none of them awaited by the batches.

A landed batch hands its offsets over and goes: the next batch is not held up by a
broker round trip. Offsets handed over while a commit is in flight are merged, per
partition the latest, and committed together once it ends, so commits land in order and
never fall behind by more than one.
"""

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service.health import Health
from service.metrics import Metrics

log = logging.getLogger(__name__)
#: Per partition, the offset to commit once a batch has landed.
Offsets = dict[TopicPartition, int]


class OffsetCommits:
    """The consumer's offset commits: handed over without waiting, committed in order."""

    def __init__(self, consumer: AIOKafkaConsumer, metrics: Metrics, health: Health) -> None:
        self.consumer = consumer
        self.metrics = metrics
        self.health = health
        self._pending: Offsets = {}
        self._task: asyncio.Task[None] | None = None

    def hand_over(self, offsets: Offsets) -> None:
        """Commit ``offsets`` after everything handed over before them."""
        if not offsets:
            return
        self._pending.update(offsets)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._commit_pending())

    async def committed(self) -> None:
        """Return once everything handed over has been committed (or refused, and logged)."""
        while (task := self._task) is not None:
            try:
                await asyncio.shield(task)  # raises what a commit raised, but Kafka's refusals
            finally:
                if self._task is task:
                    self._task = None

    async def _commit_pending(self) -> None:
        while self._pending:
            offsets, self._pending = self._pending, {}
            await self._commit(offsets)

    async def _commit(self, offsets: Offsets) -> None:
        """Commit offsets. A commit Kafka refuses is covered by a later one, or the batch is
        redelivered and its commands recognised as processed."""
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
