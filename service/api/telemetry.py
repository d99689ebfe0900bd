"""Server spans and RED metrics of the read API, as OpenTelemetry's HTTP conventions name
them, from one pure ASGI middleware around the app.

A request's span, ``GET /v1.0/engagements/referrals/{referral_id}`` (method and route
template; the method alone when no route matched), continues the caller's W3C
``traceparent``. Its attributes are the request's method, path, scheme, the local server
address and port, the matched route and the status; a 5xx (or an exception) sets
``error.type`` and the error status. Nothing a caller sends beyond those is recorded: not
its headers (credentials), not the query string (a ``$filter`` may hold an e-mail address
or a tenant's data), not its address. ``http_server_request_duration_seconds`` counts every
request by method, route template and status: requests and errors are its ``_count``.
"""

import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI
from fastapi.routing import APIRoute
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import http_request_duration
from service.otel import tracer_provider
from service.version import DISTRIBUTION, package_version

#: The methods OpenTelemetry names; any other is ``_OTHER`` (bounded labels and names).
KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
OTHER_METHOD: Final = "_OTHER"
#: The ``http_route`` label of a request no route matched (as OpenTelemetry leaves it out).
UNMATCHED: Final = ""
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_NOTHING: Final = contextlib.nullcontext()


@dataclass(frozen=True)
class ApiTelemetry:
    """Where the API's spans and request durations go; either may be off (None)."""

    provider: TracerProvider | None = None
    durations: Histogram | None = None

    @classmethod
    def configured(
        cls, registry: CollectorRegistry | None, environ: Mapping[str, str] = os.environ
    ) -> "ApiTelemetry":
        """Spans where the ``OTEL_*`` variables say; durations on ``registry`` (if any)."""
        durations = http_request_duration(registry) if registry is not None else None
        return cls(tracer_provider(environ), durations)

    def instrument(self, app: FastAPI) -> None:
        """Observe ``app``'s requests (its routes defined: they start at zero)."""
        if self.provider is None and self.durations is None:
            return
        if self.durations is not None:
            for method, route, status in documented_responses(app):
                self.durations.labels(method, route, status)
        app.add_middleware(ServerTelemetry, telemetry=self)

    def close(self) -> None:
        """Export the spans left and stop the exporters."""
        if self.provider is not None:
            self.provider.shutdown()


def documented_responses(app: FastAPI) -> list[tuple[str, str, str]]:
    """Each route's methods with each status it documents: the label sets known in advance."""
    found: list[tuple[str, str, str]] = []
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        statuses = {str(route.status_code or 200)}
        statuses.update(str(code) for code in route.responses if str(code).isdigit())
        for method in sorted(route.methods or ()):
            found.extend((method, route.path, status) for status in sorted(statuses))
    return found


class ServerTelemetry:
    """The middleware: a SERVER span per request (when tracing) and its duration (when
    measuring). The route is read after the app ran, from the scope its router filled."""

    def __init__(self, app: ASGIApp, telemetry: ApiTelemetry) -> None:
        self.app = app
        self.durations = telemetry.durations
        provider = telemetry.provider
        self.tracer = provider.get_tracer(DISTRIBUTION, package_version()) if provider else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in KNOWN_METHODS else OTHER_METHOD
        span = self._start(scope, method) if self.tracer is not None else None
        started, status, failure = time.perf_counter(), 500, None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        current = trace.use_span(span, end_on_exit=False) if span is not None else _NOTHING
        try:
            with current:
                await self.app(scope, receive, sending)
        except BaseException as error:
            failure = type(error).__qualname__
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            if self.durations is not None:
                observed = self.durations.labels(method, route or UNMATCHED, str(status))
                observed.observe(time.perf_counter() - started)
            if span is not None:
                _end(span, method, route, status, failure)

    def _start(self, scope: Scope, method: str) -> trace.Span:
        assert self.tracer is not None
        carrier = _trace_headers(scope["headers"])
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        if method == OTHER_METHOD:
            attributes["http.request.method_original"] = scope["method"][:32]
        server = scope.get("server")
        if server and server[1] is not None:
            attributes["server.address"], attributes["server.port"] = server[0], server[1]
        return self.tracer.start_span(
            _span_name(method, None),
            context=_PROPAGATOR.extract(carrier) if carrier else None,
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
        )


def _end(
    span: trace.Span, method: str, route: str | None, status: int, failure: str | None
) -> None:
    if route:
        span.update_name(_span_name(method, route))
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if failure is not None or status >= 500:
        error_type = failure or str(status)
        span.set_attribute("error.type", error_type)
        span.set_status(trace.StatusCode.ERROR, error_type)
    span.end()


def _span_name(method: str, route: str | None) -> str:
    """``{method} {route}``, as the conventions name a server span (``HTTP`` for _OTHER)."""
    shown = "HTTP" if method == OTHER_METHOD else method
    return f"{shown} {route}" if route else shown


def _trace_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    found = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in (b"traceparent", b"tracestate"):
            found[lowered.decode()] = value.decode("latin-1")
    return found
