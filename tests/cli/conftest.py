"""CLI fixtures: the real broker, the service in this event loop on its own topics and
SQLite file, and the CLI as a child process configured like the service."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.broker import EmbeddedBroker
from service.settings import Settings
from tests.integration.conftest import broker, isolated_settings, running

__all__ = ["broker"]


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated_settings(broker.bootstrap_servers, tmp_path / "referrals.db")


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Settings]:
    async with running(settings) as ready:
        yield ready
