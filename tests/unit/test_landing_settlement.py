"""What follows a landed batch (its referrals kept, its outcomes counted) is off the chain of
landings: the loop settles it once the next batch is on its way, and a batch that lands
while the loop waits for records is settled at once, so its outcomes are never held back
by an idle topic. A batch is settled once, in the order the batches landed."""

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from service.consume.decision import DecidedBatch
from service.consume.landing import Landing, Ready
from service.consume.ownership import Partitions
from service.consume.records import Incoming
from service.metrics import Metrics
from service.store import OutboxEntry


class Stages:
    """The batch stages as the landing calls them: each publish waits for ``go``."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.settled: list[DecidedBatch] = []

    async def write(self, decided: DecidedBatch) -> list[OutboxEntry]:
        return []

    async def publish(self, stored: list[OutboxEntry]) -> None:
        await self.go.wait()

    def settle(self, incoming: list[Incoming], decided: DecidedBatch) -> None:
        self.settled.append(decided)


class Commits:
    def __init__(self) -> None:
        self.handed: list[Any] = []

    def hand_over(self, offsets: Any) -> None:
        self.handed.append(offsets)

    async def committed(self) -> None:
        return None


def landing_over(stages: Stages) -> Landing:
    metrics = Metrics(CollectorRegistry())
    return Landing(Commits(), stages, None, Partitions(), metrics)  # type: ignore[arg-type]


async def until_landed(landing: Landing) -> None:
    assert await asyncio.wait_for(landing.land(), 5)


async def test_a_batch_that_landed_is_settled_by_the_loop_once_and_in_order() -> None:
    stages = Stages()
    landing = landing_over(stages)
    first, second = DecidedBatch(), DecidedBatch()
    stages.go.set()
    landing.launch({}, [], Ready(first), 0.0)
    await until_landed(landing)
    assert stages.settled == []  # not on the chain: the loop settles it after the next launch
    landing.launch({}, [], Ready(second), 0.0)
    await until_landed(landing)
    landing.settle()
    landing.settle()
    assert stages.settled == [first, second]


async def test_a_batch_that_lands_while_the_loop_waits_for_records_is_settled_at_once() -> None:
    stages = Stages()
    landing = landing_over(stages)
    decided = DecidedBatch()
    landing.launch({}, [], Ready(decided), 0.0)
    waited = asyncio.Event()

    async def wait_for_records() -> None:
        with landing.waiting_for_records():
            stages.go.set()
            await waited.wait()

    waiting = asyncio.create_task(wait_for_records())
    for _ in range(100):  # the landing's publish, then its end, each a turn of the loop
        if stages.settled:
            break
        await asyncio.sleep(0)
    assert stages.settled == [decided]
    waited.set()
    await waiting
    landing.settle()
    assert stages.settled == [decided]


async def test_letting_go_of_the_batch_in_flight_settles_it() -> None:
    stages = Stages()
    landing = landing_over(stages)
    decided = DecidedBatch()
    landing.launch({}, [], Ready(decided), 0.0)
    stages.go.set()
    await asyncio.wait_for(landing.landed(), 5)
    assert stages.settled == [decided]


async def test_what_waited_when_the_loop_began_to_wait_is_settled_first() -> None:
    stages = Stages()
    landing = landing_over(stages)
    decided = DecidedBatch()
    stages.go.set()
    landing.launch({}, [], Ready(decided), 0.0)
    await until_landed(landing)
    with landing.waiting_for_records():
        assert stages.settled == [decided]
