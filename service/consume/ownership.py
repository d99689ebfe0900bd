"""Following the consumer group's assignment, and whether the outbox may hold rows to
publish before the next records are processed.

A newly assigned partition may come with rows another replica stored but did not publish
(it crashed or lost the partition); after a failed attempt, this replica's own rows may be
left unpublished. Whichever replica publishes a row takes it under the store's lock for its
referral (``Store.publish_in_order``), so the backlog may be drained by any replica
without reordering a referral's events.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from service.health import Health
from service.metrics import Metrics

log = logging.getLogger(__name__)


class Partitions:
    def __init__(self) -> None:
        self.backlog_possible = False

    def assigned(self) -> None:
        """Partitions came: their previous owner may have left rows behind."""
        self.backlog_possible = True

    def failed(self) -> None:
        """An attempt failed part-way: rows may have been left behind."""
        self.backlog_possible = True

    def drained(self) -> None:
        self.backlog_possible = False


async def _nothing_in_flight() -> None:
    return None


class Rebalance(ConsumerRebalanceListener):
    """Follows the group's assignment; a partition is let go only once the batch in hand
    (which holds ``batch_lock``) and the batch in flight after it (``landed``: its write,
    publish and offset commit) have ended, or after ``wait``."""

    def __init__(
        self,
        partitions: Partitions,
        consumer: AIOKafkaConsumer,
        batch_lock: asyncio.Lock,
        metrics: Metrics,
        health: Health,
        wait: float,
        moved: Callable[[Collection[TopicPartition]], None] = lambda partitions: None,
        landed: Callable[[], Awaitable[None]] = _nothing_in_flight,
    ) -> None:
        self.partitions = partitions
        self.consumer = consumer
        self.batch_lock = batch_lock
        self.metrics = metrics
        self.health = health
        self.wait = wait
        self.moved = moved  # called with the partitions whenever they come or go
        self.landed = landed

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assigned").inc()
        self.health.assigned = bool(self.consumer.assignment())
        self.partitions.assigned()
        self.moved(assigned)

    async def _settled(self) -> None:
        async with self.batch_lock:  # and no next batch is started meanwhile
            await self.landed()

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self.metrics.rebalances.labels("revoked").inc()
        for tp in revoked:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        try:
            await asyncio.wait_for(self._settled(), self.wait)
        except TimeoutError:
            log.warning("revoking partitions while a batch is still retrying")
        self.moved(revoked)
