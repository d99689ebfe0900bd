"""Integration fixtures: settings of their own on the session's broker, real SQLite files
and PostgreSQL databases, the service in-process."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service import startup
from service.broker import EmbeddedBroker
from service.settings import Settings
from service.store import PostgresStore, SqliteStore, Store
from tests.support.postgres import fresh_postgres_database
from tests.support.services import isolated_settings, running


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated_settings(broker.bootstrap_servers, tmp_path / "referrals.db")


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Settings]:
    async with running(settings) as ready:
        yield ready


@pytest.fixture(
    params=["sqlite", "sqlite-in-flight", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def one_record_batches(
    request: pytest.FixtureRequest,
    broker: EmbeddedBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Settings]:
    """Settings on each store with one record a batch, so consecutive commands are batches
    of their own, one in flight while the next is decided (on SQLite the write is the
    loop's where no core is spare, in flight where one is; on PostgreSQL in flight). The
    service must run in this process (``running``), where the cores it sees are set."""
    if request.param.startswith("sqlite"):
        cpus = 2 if request.param == "sqlite-in-flight" else 1
        monkeypatch.setattr(startup, "usable_cpus", lambda: cpus)
        yield isolated_settings(broker.bootstrap_servers, tmp_path / "r.db", max_batch_size=1)
        return
    async with fresh_postgres_database() as url:
        yield isolated_settings(
            broker.bootstrap_servers, tmp_path / "unused.db", database_url=url, max_batch_size=1
        )


@pytest.fixture(
    params=["sqlite", "sqlite-beside", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An opened store of each backend: a SQLite file (written in turn, or beside the
    decisions with its rows packed), a fresh PostgreSQL database."""
    async with contextlib.AsyncExitStack() as stack:
        backend: Store
        if request.param.startswith("sqlite"):
            beside = request.param == "sqlite-beside"
            backend = SqliteStore(tmp_path / "store.db", writes_beside=beside)
        else:
            backend = PostgresStore(await stack.enter_async_context(fresh_postgres_database()))
        await backend.open()
        stack.push_async_callback(backend.close)
        yield backend
