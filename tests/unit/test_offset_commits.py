"""Offset commits handed over without waiting: in order, one in flight, merged meanwhile.

The consumer is a stand-in whose commits end when the test says; the real consumer's
commits are exercised by every consume-loop integration test."""

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError
from prometheus_client import CollectorRegistry

from service.consume.commits import OffsetCommits
from service.health import Health
from service.metrics import Metrics

A, B = TopicPartition("commands", 0), TopicPartition("commands", 1)


class HeldCommits:
    """A consumer whose every commit waits until it is let go."""

    def __init__(self) -> None:
        self.asked: list[dict[TopicPartition, int]] = []
        self.started = asyncio.Event()
        self.ends: list[asyncio.Future[BaseException | None]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.asked.append(dict(offsets))
        end: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.ends.append(end)
        self.started.set()
        failure = await end
        if failure is not None:
            raise failure

    async def end_next(self, failure: BaseException | None = None) -> None:
        """End the commit in flight, then wait until the next one (if any) has begun."""
        self.started.clear()
        self.ends[len(self.asked) - 1].set_result(failure)
        await asyncio.sleep(0)


def commits_over(consumer: Any) -> tuple[OffsetCommits, Health]:
    health = Health(stall_seconds=60.0)
    return OffsetCommits(consumer, Metrics(CollectorRegistry()), health), health


async def test_offsets_handed_over_meanwhile_are_merged_into_one_later_commit() -> None:
    consumer = HeldCommits()
    commits, _ = commits_over(consumer)

    commits.hand_over({A: 10})
    await asyncio.wait_for(consumer.started.wait(), 5)
    commits.hand_over({A: 20, B: 5})
    commits.hand_over({A: 30})  # the latest offset of a partition wins
    assert consumer.asked == [{A: 10}]  # one commit in flight at most

    await consumer.end_next()
    await asyncio.wait_for(consumer.started.wait(), 5)
    assert consumer.asked == [{A: 10}, {A: 30, B: 5}]
    waiting = asyncio.ensure_future(commits.committed())
    await asyncio.sleep(0)
    assert not waiting.done()  # committed() waits for the commit in flight
    await consumer.end_next()
    await asyncio.wait_for(waiting, 5)
    assert consumer.asked == [{A: 10}, {A: 30, B: 5}]


async def test_committed_returns_at_once_when_nothing_was_handed_over() -> None:
    commits, _ = commits_over(HeldCommits())
    commits.hand_over({})
    await asyncio.wait_for(commits.committed(), 5)


@pytest.mark.parametrize(
    "refusal",
    [CommitFailedError("rebalanced"), KafkaConnectionError("broker away")],
    ids=["after-rebalance", "broker-away"],
)
async def test_a_commit_kafka_refuses_is_logged_and_a_later_one_still_goes(
    refusal: BaseException,
) -> None:
    consumer = HeldCommits()
    commits, health = commits_over(consumer)
    health.last_progress = 0.0

    commits.hand_over({A: 1})
    await asyncio.wait_for(consumer.started.wait(), 5)
    await consumer.end_next(refusal)
    await asyncio.wait_for(commits.committed(), 5)  # not raised: a later commit covers it
    assert health.last_progress > 0.0

    commits.hand_over({A: 2})
    await asyncio.wait_for(consumer.started.wait(), 5)
    await consumer.end_next()
    await asyncio.wait_for(commits.committed(), 5)
    assert consumer.asked == [{A: 1}, {A: 2}]


async def test_what_a_commit_raises_otherwise_reaches_the_one_waiting_once() -> None:
    consumer = HeldCommits()
    commits, _ = commits_over(consumer)

    commits.hand_over({A: 1})
    await asyncio.wait_for(consumer.started.wait(), 5)
    await consumer.end_next(RuntimeError("the client broke"))
    with pytest.raises(RuntimeError, match="the client broke"):
        await asyncio.wait_for(commits.committed(), 5)
    await asyncio.wait_for(commits.committed(), 5)  # told once; nothing is in flight now
