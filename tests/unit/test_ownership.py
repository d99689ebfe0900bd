"""Letting partitions go: not before the batch in hand and the batch in flight have landed."""

import asyncio

from prometheus_client import CollectorRegistry

from service.consume.ownership import Partitions, Rebalance
from service.health import Health
from service.metrics import Metrics


class _NoAssignment:
    def assignment(self) -> set[object]:
        return set()


def _rebalance(lock: asyncio.Lock, committed: asyncio.Event, wait: float) -> Rebalance:
    async def commit_in_flight() -> None:
        await committed.wait()

    return Rebalance(
        Partitions(),
        _NoAssignment(),  # type: ignore[arg-type]  # only assignment() is asked
        lock,
        Metrics(CollectorRegistry()),
        Health(stall_seconds=60),
        wait,
        landed=commit_in_flight,
    )


async def test_a_revoke_waits_for_the_batch_in_flight() -> None:
    committed = asyncio.Event()
    revoking = asyncio.create_task(
        _rebalance(asyncio.Lock(), committed, 30).on_partitions_revoked([])
    )
    await asyncio.sleep(0)  # let the revoke reach its wait
    await asyncio.sleep(0)
    assert not revoking.done()
    committed.set()
    await asyncio.wait_for(revoking, 5)


async def test_a_revoke_waits_for_the_batch_in_hand_before_the_one_in_flight() -> None:
    lock, committed = asyncio.Lock(), asyncio.Event()
    committed.set()
    await lock.acquire()
    revoking = asyncio.create_task(_rebalance(lock, committed, 30).on_partitions_revoked([]))
    await asyncio.sleep(0)
    assert not revoking.done()
    lock.release()
    await asyncio.wait_for(revoking, 5)


async def test_a_batch_that_never_lands_holds_the_revoke_only_for_the_wait() -> None:
    never = asyncio.Event()
    await asyncio.wait_for(_rebalance(asyncio.Lock(), never, 0.05).on_partitions_revoked([]), 5)
