"""The command partitions this replica owns, and which of them have outbox rows to publish
before their next records are processed; kept in step with the consumer group.

A newly assigned partition may carry rows another replica stored but did not publish (it
crashed or lost the partition); after a failed attempt, rows of this replica's own
partitions may be left unpublished. Rows of partitions owned by others are never this
replica's to publish: their owners publish them, in order.
"""

import asyncio
import contextlib
import logging
from collections.abc import Collection, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from service.health import Health
from service.metrics import Metrics

log = logging.getLogger(__name__)


class Partitions:
    def __init__(self) -> None:
        self.owned: set[int] = set()
        self.to_drain: set[int] = set()

    def assign(self, partitions: Iterable[int]) -> None:
        new = set(partitions)
        self.owned |= new
        self.to_drain |= new

    def revoke(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        self.owned -= gone
        self.to_drain -= gone

    def failed(self) -> None:
        """An attempt failed part-way: every owned partition may have rows left behind."""
        self.to_drain = set(self.owned)

    def drained(self, partitions: Iterable[int]) -> None:
        self.to_drain -= set(partitions)


class Rebalance(ConsumerRebalanceListener):
    """Follows the group's assignment; a partition is let go only once the batch in hand
    (which holds ``batch_lock``) is stored, published and committed, or after ``wait``."""

    def __init__(
        self,
        partitions: Partitions,
        consumer: AIOKafkaConsumer,
        batch_lock: asyncio.Lock,
        metrics: Metrics,
        health: Health,
        wait: float,
    ) -> None:
        self.partitions = partitions
        self.consumer = consumer
        self.batch_lock = batch_lock
        self.metrics = metrics
        self.health = health
        self.wait = wait

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self.metrics.rebalances.labels("assigned").inc()
        self.health.assigned = bool(self.consumer.assignment())
        self.partitions.assign(tp.partition for tp in assigned)

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self.metrics.rebalances.labels("revoked").inc()
        for tp in revoked:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        try:
            await asyncio.wait_for(self.batch_lock.acquire(), self.wait)
            self.batch_lock.release()
        except TimeoutError:
            log.warning("revoking partitions while a batch is still retrying")
        self.partitions.revoke(tp.partition for tp in revoked)
