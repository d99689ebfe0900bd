"""Probing a running service over plain HTTP: readiness, a status, a page."""

import asyncio
import time


async def wait_ready(port: int, within: float = 60.0) -> None:
    """Poll /readyz until it answers 200 (how an orchestrator sees readiness)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await http_status(port, "/readyz") == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"service on port {port} not ready within {within}s")


async def wait_status(port: int, path: str, expected: int, within: float = 30.0) -> None:
    """Poll ``path`` until it answers ``expected``; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while await http_status(port, path) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not answer {expected} within {within}s")
        await asyncio.sleep(0.1)


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


async def http_status(port: int, path: str) -> int | None:
    try:
        return (await http_get(port, path))[0]
    except OSError:
        return None
