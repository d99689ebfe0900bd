"""The read API's HTTP server: uvicorn on a socket of its own, started and stopped by the
process that composes it (``referrals run``, ``api``, ``dev``), in that process's loop.

uvicorn's ``serve`` would install its own signal handlers; the service owns its signals,
so the server's start-up, tick loop and shutdown are driven here instead.
"""

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI


class ApiServer:
    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        forwarded_allow_ips: str = "",
        on_stop: Callable[[], Awaitable[None]] | None = None,
        on_start: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.host, self.requested_port = host, port
        self._on_start, self._on_stop = on_start, on_stop
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            access_log=False,
            log_config=None,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
        )
        config.load()
        self._server = uvicorn.Server(config)
        self._server.lifespan = config.lifespan_class(config)
        self._socket: socket.socket | None = None
        self._ticking: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._socket is not None, "the API server is not started"
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP,
        # and without that a keep-alive client waits ~40 ms (delayed ACK) per small answer.
        listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listening.bind((self.host, self.requested_port))
        except OSError:
            listening.close()
            raise
        listening.setblocking(False)
        self._socket = listening
        await self._server.startup(sockets=[listening])
        self._ticking = asyncio.create_task(self._server.main_loop())
        if self._on_start is not None:
            await self._on_start()

    async def stop(self) -> None:
        if self._socket is None:
            return
        self._server.should_exit = True
        if self._ticking is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticking
        await self._server.shutdown(sockets=[self._socket])
        self._socket.close()
        self._socket = None
        if self._on_stop is not None:
            await self._on_stop()
