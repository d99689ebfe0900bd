"""A PostgreSQL server that stops answering (connections accepted, bytes read, nothing
sent back) is an outage within the store's bounds, not a wait without end; the store
works again once the server answers."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from service.errors import StoreUnavailable
from service.store import PostgresBounds, PostgresStore
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.postgres
BOUNDS = PostgresBounds(connect=1.0, acquire=1.5, statement=2.0, migration=30.0)
#: What the event loop and the host may add to a bound, on a busy machine.
SLACK = 2.0


class BlackHoleProxy:
    """Forwards TCP connections to a server, or swallows them: in black-hole mode every
    connection, open or new, has its bytes read and dropped and is never answered. A
    connection that lost bytes stays swallowed (its protocol state is gone), as after a
    network path that dropped them."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.forwarding = True
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        swallowed = [not self.forwarding]
        try:
            if swallowed[0]:
                while await client.read(65536):
                    pass
                return
            server, to_server = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(
                self._pump(client, to_server, swallowed), self._pump(server, to_client, swallowed)
            )
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            to_client.close()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, swallowed: list[bool]
    ) -> None:
        try:
            while data := await source.read(65536):
                swallowed[0] = swallowed[0] or not self.forwarding
                if not swallowed[0]:
                    sink.write(data)
                    await sink.drain()
        finally:
            sink.close()


@contextlib.asynccontextmanager
async def proxied_database() -> AsyncIterator[tuple[BlackHoleProxy, str]]:
    """A fresh database, and its URL through a proxy in front of its server."""
    async with fresh_postgres_database() as url:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        proxy = BlackHoleProxy(parts.hostname, parts.port)
        port = await proxy.start()
        user = f"{parts.username}@" if parts.username else ""
        try:
            yield proxy, parts._replace(netloc=f"{user}127.0.0.1:{port}").geturl()
        finally:
            await proxy.stop()


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
