"""The dispatcher over a real store and real local receivers, its rounds driven by the test
on a clock the test moves: an endpoint failing past the retry period is marked failing and
its deliveries parked until a replay, and a receiver that does not answer holds only its
own tenant's deliveries."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.codec import OutgoingRecord
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, SqliteStore
from service.store.webhooks import Registration
from service.webhooks.dispatcher import Dispatcher
from tests.support.webhook_receiver import receiving

EVENTS = ("referral-created", "referral-updated")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "w.db")
    await opened.open()
    yield opened
    await opened.close()


@contextlib.asynccontextmanager
async def dispatcher(
    store: SqliteStore, clock: Clock, **overrides: object
) -> AsyncIterator[Dispatcher]:
    settings = Settings(
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
        webhook_retry_period=timedelta(minutes=10),
        webhook_read_timeout_seconds=5,
        **overrides,
    )
    work = Dispatcher(settings, store, None, clock)
    try:
        yield work
    finally:
        await work.sender.close()


async def created(store: SqliteStore, tenant: str, *referrals: str) -> None:
    headers = (("ce_tenantid", tenant.encode()), ("ce_time", b"2026-12-06T10:00:00Z"))
    await store.write(BatchWrite(outbox=[
        OutboxEntry(0, OutgoingRecord("events", r.encode(), b"{}", headers, "referral.created"))
        for r in referrals
    ]))  # fmt: skip


async def test_an_endpoint_failing_past_the_retry_period_is_parked_until_replayed(
    store: SqliteStore,
) -> None:
    clock = Clock()
    async with dispatcher(store, clock) as work, receiving(failures=4) as receiver:
        await store.save_registration(Registration("org-a", receiver.url, EVENTS, "s"))
        await created(store, "org-a", "r1", "r2")
        assert await work.claim_round() == 2
        await work.idle()  # both failed
        clock.now += timedelta(minutes=11)  # past the retry period: both fail again
        assert await work.claim_round() == 2
        await work.idle()
        counts = await store.webhook_counts()
        assert (counts.pending, counts.parked, counts.failing_endpoints) == (0, 2, 1)
        assert await work.claim_round() == 0  # parked: nothing is sent
        assert await store.replay("org-a", clock.now) == 2
        assert await work.claim_round() == 2
        await work.idle()
        await receiver.until(lambda got: len(got) == 2)
    assert (await store.webhook_counts()).failing_endpoints == 0
    assert {row.state for row in await store.deliveries("org-a", 10)} == {"delivered"}


async def test_a_receiver_that_does_not_answer_holds_only_its_own_tenant(
    store: SqliteStore,
) -> None:
    clock = Clock()
    async with (
        dispatcher(store, clock, webhook_concurrency_per_endpoint=1) as work,
        receiving(held=True) as slow,
        receiving() as fast,
    ):
        await store.save_registration(Registration("org-slow", slow.url, EVENTS, "s"))
        await store.save_registration(Registration("org-fast", fast.url, EVENTS, "s"))
        await created(store, "org-slow", "s1", "s2")
        await created(store, "org-fast", "f1")
        assert await work.claim_round() == 3
        await slow.until_arrived(1)
        await fast.until(lambda got: len(got) == 1)
        await work.idle("org-fast")
        assert slow.arrived == 1  # one request at a time to it
        await created(store, "org-fast", "f2")
        clock.now += timedelta(seconds=1)
        assert await work.claim_round() == 1  # the slow tenant is busy, the fast one is not
        await fast.until(lambda got: len(got) == 2)
        slow.release.set()
        await asyncio.wait_for(work.idle(), 10)
    assert len(slow.received) == 2
