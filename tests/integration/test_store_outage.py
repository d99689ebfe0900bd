"""A PostgreSQL server that stops answering (connections accepted, bytes read, nothing
sent back) is an outage within the store's bounds, not a wait without end; the store
works again once the server answers."""

import asyncio
import time

import pytest

from service.errors import StoreUnavailable
from service.store import PostgresBounds, PostgresStore
from tests.support.black_hole import proxied_database

pytestmark = pytest.mark.postgres
BOUNDS = PostgresBounds(connect=1.0, acquire=1.5, statement=2.0, migration=30.0)
#: What the event loop and the host may add to a bound, on a busy machine.
SLACK = 2.0


async def timed_outage(operation: asyncio.Future[object] | object) -> float:
    """Seconds until the awaited operation raised StoreUnavailable (never more than 30)."""
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(operation, 30)  # type: ignore[arg-type]
    return time.monotonic() - started


async def test_a_database_that_stops_answering_is_an_outage_within_the_bounds() -> None:
    async with proxied_database() as (proxy, url):
        store = PostgresStore(url, pool_size=2, bounds=BOUNDS)
        await store.open()
        try:
            assert await store.outbox_backlog() == 0
            proxy.forwarding = False

            # A pooled connection: its statement is never answered.
            assert await timed_outage(store.outbox_backlog()) < BOUNDS.statement + SLACK
            # That connection was dropped: the next needs a new one, which never opens.
            assert await timed_outage(store.count_by_state()) < BOUNDS.acquire + SLACK

            proxy.forwarding = True
            assert await asyncio.wait_for(store.outbox_backlog(), 30) == 0
            assert await asyncio.wait_for(store.count_by_state(), 30) == {}
        finally:
            await asyncio.wait_for(store.close(), 30)


async def test_opening_a_store_whose_database_does_not_answer_is_an_outage_in_time() -> None:
    async with proxied_database() as (proxy, url):
        proxy.forwarding = False
        store = PostgresStore(url, bounds=BOUNDS)

        assert await timed_outage(store.open()) < BOUNDS.connect + SLACK

        proxy.forwarding = True
        await asyncio.wait_for(store.open(), 30)
        try:
            assert await store.outbox_backlog() == 0
        finally:
            await store.close()
