"""Integration fixtures: a real broker process, real SQLite files, the service in-process."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.app import serve
from service.broker import EmbeddedBroker, free_port
from service.consume.tracing import Tracing
from service.settings import Settings
from tests.conftest import fresh_postgres_database
from tests.integration.kafka_helpers import wait_ready


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log") as running:
        yield running


def isolated_settings(bootstrap: str, database: Path, **overrides: object) -> Settings:
    """Settings with topics and group of their own, so tests never see each other's records."""
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "kafka_bootstrap_servers": bootstrap,
        "database_url": f"sqlite:///{database}",
        "consumer_group": f"referrals-{suffix}",
        "commands_topic": f"commands-{suffix}",
        "events_topic": f"events-{suffix}",
        "rejections_topic": f"rejections-{suffix}",
        "dlq_topic": f"dlq-{suffix}",
        "http_port": free_port(),
        "fetch_max_wait_ms": 20,
        "session_timeout_ms": 6000,
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.5,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated_settings(broker.bootstrap_servers, tmp_path / "referrals.db")


@contextlib.asynccontextmanager
async def running(settings: Settings, tracing: Tracing | None = None) -> AsyncIterator[Settings]:
    """The service running in this event loop, ready, until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, handle_signals=False, tracing=tracing))
    try:
        await wait_ready(settings.http_port)
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Settings]:
    async with running(settings) as ready:
        yield ready


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def one_record_batches(
    request: pytest.FixtureRequest, broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[Settings]:
    """Settings on each store with one record a batch, so consecutive commands are batches
    of their own, one in flight while the next is decided (on SQLite the write is the
    loop's, on PostgreSQL it is in flight too)."""
    if request.param == "sqlite":
        yield isolated_settings(broker.bootstrap_servers, tmp_path / "r.db", max_batch_size=1)
        return
    async with fresh_postgres_database() as url:
        yield isolated_settings(
            broker.bootstrap_servers, tmp_path / "unused.db", database_url=url, max_batch_size=1
        )
