"""``referrals api`` as a tier of its own: its operations port says it is ready while the
store answers, whatever Kafka does, and ``referrals run`` with ``REFERRALS_API_ENABLED``
false serves no read API."""

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from service.api.operations import ReaderReadiness
from service.app import serve_api
from service.broker import free_port
from service.health import Health
from service.settings import Settings
from service.startup import started
from service.store import open_store
from tests.support.http_probes import http_get, http_status, wait_status


@pytest.fixture
async def migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'referrals.db'}"
    store = open_store(url)
    await store.open()
    await store.close()
    return url


async def test_referrals_api_is_ready_with_the_store_and_no_broker_at_all(
    api_settings: Settings, migrated: str
) -> None:
    settings = api_settings.model_copy(
        update={
            "database_url": SecretStr(migrated),
            # Nothing listens there: the read tier never asks the broker.
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "http_port": free_port(),
            "api_port": free_port(),
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve_api(settings, stop, handle_signals=False))
    try:
        await wait_status(settings.http_port, "/readyz", 200, within=20)
        assert await http_status(settings.http_port, "/healthz") == 200
        status, metrics = await http_get(settings.http_port, "/metrics")
        assert status == 200
        assert b"referrals_build_info{" in metrics
        assert b'store="sqlite"' in metrics
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(f"http://127.0.0.1:{settings.api_port}/openapi.json")
        assert answer.status_code == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    assert await http_status(settings.http_port, "/readyz") is None


async def test_readiness_follows_the_store_answering(migrated: str) -> None:
    readiness = ReaderReadiness(listening=True)
    assert readiness.problems() == ["store unreachable"]
    store = open_store(migrated)
    await store.open(migrate=False)
    await readiness.check(store)
    assert readiness.problems() == []
    await store.close()
    await readiness.check(store)
    assert readiness.problems() == ["store unreachable"]


async def test_referrals_run_with_the_api_turned_off_serves_none(
    api_settings: Settings, migrated: str
) -> None:
    assert Settings().api_enabled is True
    broker_tried = asyncio.Event()
    watched = _Said("broker not reachable, retrying", broker_tried)
    logging.getLogger("service.startup").addHandler(watched)
    settings = api_settings.model_copy(
        update={
            "database_url": SecretStr(migrated),
            "api_enabled": False,
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "http_port": free_port(),
            "api_port": free_port(),
        }
    )
    health, stop = Health(stall_seconds=60), asyncio.Event()

    async def start() -> None:
        async with started(settings, CollectorRegistry(), health, stop, None):
            pass  # never reached: the broker does not answer

    task = asyncio.create_task(start())
    try:
        # Logged once the store opened and the API would have started: the broker's turn.
        await asyncio.wait_for(broker_tried.wait(), 20)
        assert await http_status(settings.http_port, "/healthz") == 200
        assert await http_status(settings.api_port, "/openapi.json") is None
    finally:
        logging.getLogger("service.startup").removeHandler(watched)
        stop.set()
        await asyncio.wait_for(task, 20)


class _Said(logging.Handler):
    """Sets ``event`` when ``message`` is logged."""

    def __init__(self, message: str, event: asyncio.Event) -> None:
        super().__init__(logging.WARNING)
        self.message, self.event = message, event

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == self.message:
            self.event.set()
