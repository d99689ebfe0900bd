"""The one HTTP port: ``/metrics``, ``/healthz`` (alive) and ``/readyz`` (ready to consume).

A minimal asyncio HTTP/1.1 server, enough for probes and Prometheus scrapes, so the
service needs no web framework. ``/metrics`` negotiates as prometheus-client's own
exposition does: OpenMetrics when ``Accept`` asks for it, gzip when ``Accept-Encoding``
allows it.
"""

import asyncio
import contextlib
import gzip
import logging
from collections.abc import Mapping

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from service.health import Readiness

#: Status, headers and body of a response.
_Response = tuple[int, list[tuple[str, str]], bytes]
_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
log = logging.getLogger(__name__)


class HttpServer:
    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, health: Readiness
    ) -> None:
        self.host, self.port = host, port
        self.registry = registry
        self.health = health
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            request_line, *header_lines = request.decode("latin-1").split("\r\n")
            method, _, rest = request_line.partition(" ")
            path = rest.partition(" ")[0]
            headers = _headers(header_lines)
            status, extra, body = self._answer(method, path.split("?", 1)[0], headers)
            head = f"HTTP/1.1 {status} {_REASONS[status]}\r\n" + "".join(
                f"{name}: {value}\r\n" for name, value in extra
            )
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            writer.write(head.encode() + (body if method != "HEAD" else b""))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _answer(self, method: str, path: str, headers: Mapping[str, str]) -> _Response:
        """The response, or a 500 (logged) when making it failed: a scrape or a probe gets an
        answer whatever went wrong behind it."""
        try:
            return self._respond(method, path, headers)
        except Exception as error:
            log.exception(
                "HTTP request failed", extra={"path": path, "error": type(error).__name__}
            )
            return 500, _content("text/plain"), b"internal error\n"

    def _respond(self, method: str, path: str, headers: Mapping[str, str]) -> _Response:
        if method not in ("GET", "HEAD"):
            return 405, _content("text/plain"), b"method not allowed\n"
        if path == "/metrics":
            return self._metrics(headers)
        if path == "/healthz":
            return 200, _content("application/json"), b'{"status":"alive"}'
        if path == "/readyz":
            problems = self.health.problems()
            body = orjson.dumps({"ready": not problems, "problems": problems})
            return (503 if problems else 200), _content("application/json"), body
        return 404, _content("text/plain"), b"not found\n"

    def _metrics(self, headers: Mapping[str, str]) -> _Response:
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        body = encoder(self.registry)
        extra = [*_content(content_type), ("Vary", "Accept, Accept-Encoding")]
        if gzip_accepted(headers.get("accept-encoding", "")):
            body = gzip.compress(body)
            extra.append(("Content-Encoding", "gzip"))
        return 200, extra, body


def _content(content_type: str) -> list[tuple[str, str]]:
    return [("Content-Type", content_type)]


def _headers(lines: list[str]) -> dict[str, str]:
    """Request headers by lower-case name; a repeated header's values joined by commas."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            key = name.strip().lower()
            headers[key] = f"{headers[key]},{value.strip()}" if key in headers else value.strip()
    return headers
