"""A webhook receiver for the tests: a tiny HTTP/1.1 server on 127.0.0.1 that records each
request (headers and body) and answers 200, or 500 to the first ``failures`` requests;
a ``held`` receiver answers nothing until its ``release`` event is set."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from service.jsonio import loads


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return loads(self.body)


@dataclass
class Receiver:
    failures: int = 0
    held: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: int = 0  # requests read, answered or not
    port: int = 0
    received: list[Request] = field(default_factory=list)  # the answered with 200
    refused: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def until(self, done: Callable[[list[Request]], bool], within: float = 30.0) -> None:
        """Wait until ``done(received)`` holds; fail after ``within`` seconds."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: done(self.received))

    async def until_arrived(self, count: int, within: float = 30.0) -> None:
        """Wait until ``count`` requests have arrived, answered or not."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: self.arrived >= count)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while request := await _read_request(reader):
                async with self._changed:
                    self.arrived += 1
                    self._changed.notify_all()
                if self.held:
                    await self.release.wait()
                failing = self.refused < self.failures
                status = b"500 Internal Server Error" if failing else b"200 OK"
                async with self._changed:
                    if failing:
                        self.refused += 1
                    else:
                        self.received.append(request)
                    self._changed.notify_all()
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if not head:
        return None
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(path, headers, body)


@contextlib.asynccontextmanager
async def receiving(failures: int = 0, held: bool = False) -> AsyncIterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1 for the block."""
    receiver = Receiver(failures, held)
    server = await asyncio.start_server(receiver._serve, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.close()
        for writer in receiver.writers:
            writer.close()
        await server.wait_closed()
