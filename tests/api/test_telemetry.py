"""The read API's server spans and request durations (OpenTelemetry's HTTP conventions),
over real HTTP on a SQLite store, spans caught by the SDK's in-memory exporter: named by
route template, continuing the caller's trace, errors marked, nothing secret recorded."""

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from service.api.compose import read_api
from service.api.telemetry import ApiTelemetry
from service.logs import stamp_traces
from service.metrics import http_request_duration
from service.settings import Settings
from service.store import Store, open_store
from tests.support.read_api import REFERRALS
from tests.support.stored_referrals import created, store_new

CALLER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ONE = f"{REFERRALS}/{{referral_id}}"
AUTH = {"Authorization": "Bearer key-org-a"}


@dataclass
class Observed:
    client: httpx.AsyncClient
    store: Store
    spans: InMemorySpanExporter
    registry: CollectorRegistry
    port: int

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def count(self, method: str, route: str, status: int) -> float | None:
        labels = {
            "http_request_method": method,
            "http_route": route,
            "http_response_status_code": str(status),
        }
        return self.registry.get_sample_value("http_server_request_duration_seconds_count", labels)


@pytest.fixture
async def observed(api_settings: Settings) -> AsyncIterator[Observed]:
    spans, registry = InMemorySpanExporter(), CollectorRegistry()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = ApiTelemetry(provider, http_request_duration(registry))
    store = open_store(api_settings.database_url.get_secret_value())
    await store.open()
    server = read_api(api_settings, store, telemetry=telemetry)
    assert server is not None
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield Observed(client, store, spans, registry, server.port)
    finally:
        await server.stop()
        with contextlib.suppress(Exception):  # a test may have closed it
            await store.close()


async def test_a_request_is_a_server_span_named_by_its_route_continuing_the_callers_trace(
    observed: Observed,
) -> None:
    await store_new(observed.store, created("contoso-1", tenant="org-a"))
    response = await observed.client.get(
        f"{REFERRALS}/contoso-1", headers={**AUTH, "traceparent": CALLER_TRACE}
    )
    assert response.status_code == 200
    [span] = observed.finished()
    assert span.name == f"GET {ONE}"
    assert span.kind is trace.SpanKind.SERVER
    assert span.parent is not None
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE.split("-")[1]
    assert f"{span.parent.span_id:016x}" == CALLER_TRACE.split("-")[2]
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.path": f"{REFERRALS}/contoso-1",
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "server.address": "127.0.0.1",
        "server.port": observed.port,
        "http.route": ONE,
        "http.response.status_code": 200,
    }
    assert span.status.status_code is trace.StatusCode.UNSET


async def test_the_request_log_line_is_written_inside_the_span(
    observed: Observed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.api.requests")
    original = logging.getLogRecordFactory()
    stamp_traces()
    try:
        await observed.client.get(f"{REFERRALS}/nobody", headers=AUTH)
    finally:
        logging.setLogRecordFactory(original)
    [span] = observed.finished()
    [line] = [r for r in caplog.records if r.name == "service.api.requests"]
    assert vars(line)["trace_id"] == trace.format_trace_id(span.context.trace_id)


async def test_nothing_secret_is_recorded_neither_credentials_nor_the_query(
    observed: Observed,
) -> None:
    response = await observed.client.get(
        REFERRALS,
        params={"$filter": "team/any(t:t/email eq 'alex.wilber@contoso.example')"},
        headers=AUTH,
    )
    assert response.status_code == 200
    [span] = observed.finished()
    assert span.name == f"GET {REFERRALS}"
    assert span.parent is None  # no traceparent: a trace of its own
    recorded = " ".join(f"{k}={v}" for k, v in (span.attributes or {}).items())
    assert "url.query" not in recorded
    assert "alex.wilber" not in recorded
    assert "key-org-a" not in recorded


async def test_an_unmatched_path_is_named_by_its_method_and_counted_under_one_empty_route(
    observed: Observed,
) -> None:
    for path in ("/nowhere", "/elsewhere/42"):
        assert (await observed.client.get(path, headers=AUTH)).status_code == 404
    spans = observed.finished()
    assert [span.name for span in spans] == ["GET", "GET"]
    assert all("http.route" not in (span.attributes or {}) for span in spans)
    assert observed.count("GET", "", 404) == 2


async def test_a_server_error_marks_its_span_and_is_counted_by_its_status(
    observed: Observed,
) -> None:
    await observed.store.close()  # its reads now fail with RuntimeError: a fault, a 500
    response = await observed.client.get(f"{REFERRALS}/contoso-1", headers=AUTH)
    assert response.status_code == 500
    [span] = observed.finished()
    assert span.status.status_code is trace.StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "RuntimeError"
    assert (span.attributes or {})["http.response.status_code"] == 500
    assert observed.count("GET", ONE, 500) == 1


async def test_durations_start_at_zero_for_each_routes_documented_statuses_and_count_requests(
    observed: Observed,
) -> None:
    assert observed.count("GET", ONE, 200) == 0
    assert observed.count("GET", ONE, 404) == 0
    assert observed.count("GET", REFERRALS, 401) == 0
    await observed.client.get(f"{REFERRALS}/nobody", headers=AUTH)
    await observed.client.get(REFERRALS)  # no credentials
    assert observed.count("GET", ONE, 404) == 1
    assert observed.count("GET", REFERRALS, 401) == 1
    assert observed.count("GET", ONE, 200) == 0
