"""/metrics follows Prometheus conventions: negotiated format, runtime collectors, build
info, no _created series, and every known label set present at zero from the start."""

import asyncio
import gzip
import platform
import re

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from service.health import Health
from service.http import HttpServer
from service.metrics import Metrics
from service.version import package_version


async def _scrape(registry: CollectorRegistry, *headers: str) -> tuple[dict[str, str], bytes]:
    server = HttpServer("127.0.0.1", 0, registry, Health(stall_seconds=60))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = "GET /metrics HTTP/1.1\r\nHost: x\r\n" + "".join(f"{h}\r\n" for h in headers)
        writer.write(request.encode() + b"\r\n")
        response = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    finally:
        await server.stop()
    head, _, body = response.partition(b"\r\n\r\n")
    fields = (line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    return {name.lower(): value for name, value in fields}, body


def _samples(page: str) -> dict[str, list[dict[str, str]]]:
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.labels)
    return samples


async def test_plain_text_by_default_and_openmetrics_when_asked() -> None:
    registry = Metrics(CollectorRegistry()).registry

    plain, body = await _scrape(registry)
    assert plain["content-type"].startswith("text/plain; version=0.0.4")
    assert "content-encoding" not in plain
    assert b"# EOF" not in body

    accept = "Accept: application/openmetrics-text; version=1.0.0,text/plain;q=0.5"
    negotiated, body = await _scrape(registry, accept)
    assert negotiated["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")


async def test_gzip_when_the_scraper_accepts_it() -> None:
    registry = Metrics(CollectorRegistry()).registry

    headers, body = await _scrape(registry, "Accept-Encoding: deflate, gzip;q=1.0")

    assert headers["content-encoding"] == "gzip"
    assert b"referrals_commands_total" in gzip.decompress(body)
    assert "Accept-Encoding" in headers["vary"]


async def test_runtime_collectors_build_info_and_no_created_series() -> None:
    registry = Metrics(CollectorRegistry(), store_backend="postgresql").registry

    _, body = await _scrape(registry, "Accept: application/openmetrics-text; version=1.0.0")
    samples = _samples(body.decode())

    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= set(
        samples
    )
    assert "python_gc_collections_total" in samples
    assert samples["referrals_build_info"] == [
        {"version": package_version(), "python": platform.python_version(), "store": "postgresql"}
    ]
    assert not [name for name in samples if name.endswith("_created")]


def test_known_label_sets_start_at_zero() -> None:
    registry = Metrics(CollectorRegistry()).registry

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("referrals_commands_total", type="referral.win", outcome="applied", code="") == 0
    assert (
        value("referrals_commands_total", type="referral.win", outcome="rejected", code="conflict")
        == 0
    )
    assert (
        value("referrals_commands_total", type="", outcome="dead-lettered", code="unknown-type")
        == 0
    )
    assert value("referrals_dead_letters_total", reason="not-json") == 0
    assert value("referrals_events_published_total", type="dead-letter") == 0
    assert value("referrals_events_published_total", type="referral.command.rejected") == 0
    assert value("referrals_retries_total", component="conflict") == 0
    assert value("referrals_poison_records_total", stage="publish") == 0
    assert value("referrals_time_to_close_seconds_count", outcome="won") == 0
    assert value("referrals_current", status="Closed", substatus="Expired") == 0
    moves = [
        sample
        for family in registry.collect()
        if family.name == "referrals_transitions"
        for sample in family.samples
        if sample.name.endswith("_total")
    ]
    assert len(moves) == 28  # every legal move between two different states
    assert (
        value(
            "referrals_transitions_total",
            from_status="Active",
            from_substatus="Accepted",
            to_status="New",
            to_substatus="Pending",
        )
        is None
    )


def test_label_values_the_service_names_are_kebab_case() -> None:
    registry = Metrics(CollectorRegistry()).registry
    coined = {"outcome", "reason", "stage", "kind", "component"}
    for family in registry.collect():
        if not family.name.startswith("referrals_"):
            continue
        for sample in family.samples:
            for label, text in sample.labels.items():
                if label in coined:
                    assert re.fullmatch("[a-z]+(-[a-z]+)*", text), (family.name, label, text)


class _Failing:
    def collect(self) -> list[object]:
        raise RuntimeError("a collector failed")


async def test_a_scrape_that_fails_behind_the_port_is_answered_500() -> None:
    registry = CollectorRegistry()
    registry.register(_Failing())  # type: ignore[arg-type]  # a collector that raises
    server = HttpServer("127.0.0.1", 0, registry, Health(stall_seconds=60))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    finally:
        await server.stop()
    assert response.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert response.endswith(b"\r\n\r\ninternal error\n")
