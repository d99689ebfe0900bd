"""A TCP proxy in front of a server that can be switched to swallow every byte: a database
that stops answering without closing anything, as a network path that drops packets."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from tests.support.postgres import fresh_postgres_database


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
