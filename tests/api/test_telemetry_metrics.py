"""The read API's request durations are scraped from ``/metrics`` of the operations port
wherever the API runs: ``referrals api`` alone (a real child process), and the parent of
workers (its composition on a real broker), beside the parent's own series."""

import asyncio
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.api.auth import open_access
from service.broker import EmbeddedBroker, free_port
from service.jsonio import loads
from service.settings import Settings
from service.startup import started
from service.store import open_store
from service.workers.metrics import ParentMetrics
from service.workers.parent import WholeReadiness
from tests.chart.promtool import promtool
from tests.support.cli_runner import PIPE, spawn
from tests.support.read_api import REFERRALS
from tests.support.services import isolated_settings

ONE = f"{REFERRALS}/{{referral_id}}"
DURATION = "http_server_request_duration_seconds"


def _counts(page: str) -> dict[tuple[str, str, str], float]:
    """The requests counted, by method, route and status."""
    return {
        (
            s.labels["http_request_method"],
            s.labels["http_route"],
            s.labels["http_response_status_code"],
        ): s.value
        for family in text_string_to_metric_families(page)
        if family.name == DURATION
        for s in family.samples
        if s.name == f"{DURATION}_count"
    }


@pytest.fixture
async def api_alone(api_settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """``referrals api`` over a migrated SQLite file: its API URL and operations URL."""
    store = open_store(api_settings.database_url.get_secret_value())
    await store.open()  # migrated: the read API never migrates
    await store.close()
    settings = api_settings.model_copy(update={"http_port": free_port(), "log_level": "INFO"})
    child = await spawn(settings, "api", stdout=PIPE, stderr=PIPE)
    try:
        api = await asyncio.wait_for(_listening(child), 30)
        yield api, f"http://127.0.0.1:{settings.http_port}"
    finally:
        if child.returncode is None:
            child.terminate()
            await asyncio.wait_for(child.wait(), 30)


async def _listening(child: asyncio.subprocess.Process) -> str:
    """The API's URL, once the child logs that it listens."""
    assert child.stderr is not None
    while line := await child.stderr.readline():
        entry = loads(line) if line.startswith(b"{") else {}
        if entry.get("message") == "read API listening":
            return str(entry["url"])
    raise AssertionError(f"referrals api ended with {await child.wait()} before listening")


async def test_referrals_api_counts_its_requests_on_its_operations_port(
    api_alone: tuple[str, str],
) -> None:
    api, operations = api_alone
    async with httpx.AsyncClient(timeout=10) as http:
        auth = {"Authorization": "Bearer key-org-a"}
        for _ in range(2):
            await http.get(f"{api}{REFERRALS}/nobody", headers=auth)
        await http.get(f"{api}{REFERRALS}?$top=5", headers=auth)
        await http.get(f"{api}/not/a/route/{id(http)}", headers=auth)
        ready = await http.get(f"{operations}/readyz")
        page = (await http.get(f"{operations}/metrics")).text
    assert ready.status_code == 200, ready.text
    counts = _counts(page)
    assert counts[("GET", ONE, "404")] == 2
    assert counts[("GET", REFERRALS, "200")] == 1
    assert counts[("GET", "", "404")] == 1  # no raw path: one label for every unmatched one
    assert counts[("GET", ONE, "304")] == 0  # known in advance: exported from the start
    assert "referrals_build_info{" in page
    assert await asyncio.to_thread(_promtool_finds, page) == ""


def _promtool_finds(page: str) -> str:
    """What ``promtool check metrics`` finds wrong with an exposition (nothing: empty)."""
    checked = subprocess.run(
        [str(promtool()), "check", "metrics"],
        input=page,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return checked.stdout + checked.stderr if checked.returncode else ""


@pytest.mark.broker
async def test_the_parent_of_workers_counts_the_api_it_serves_beside_the_workers_series(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(
        broker.bootstrap_servers, tmp_path / "referrals.db", api_port=free_port()
    )
    stop = asyncio.Event()
    with tempfile.TemporaryDirectory() as directory:
        parent = ParentMetrics(Path(directory), lambda: False, "sqlite")
        readiness = WholeReadiness(Path(directory))
        serving = started(settings, parent.registry, readiness, stop, open_access)
        async with serving, httpx.AsyncClient(timeout=10) as http:
            await http.get(f"http://127.0.0.1:{settings.api_port}{REFERRALS}/nobody")
            page = (await http.get(f"http://127.0.0.1:{settings.http_port}/metrics")).text
    assert _counts(page)[("GET", ONE, "404")] == 1
    assert "referrals_workers " in page
