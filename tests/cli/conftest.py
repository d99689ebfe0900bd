"""CLI fixtures: the service in this event loop, on the session's broker with topics and a
SQLite file of its own; the CLI itself runs as a child process (tests/support/cli_runner.py)
configured like the service.

``shared_service`` serves a whole test module (whose tests then run in one event loop,
``pytest.mark.asyncio(loop_scope="module")``): its tests use referral ids of their own.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from service.broker import EmbeddedBroker
from service.settings import Settings
from tests.support.services import isolated_settings, running


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated_settings(broker.bootstrap_servers, tmp_path / "referrals.db")


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Settings]:
    async with running(settings) as ready:
        yield ready


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_service(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    database = tmp_path_factory.mktemp("store") / "referrals.db"
    async with running(isolated_settings(broker.bootstrap_servers, database)) as ready:
        yield ready
