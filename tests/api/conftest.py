"""The read API over real HTTP: a real server on a free port, real stores (SQLite and
PostgreSQL), callers with real RSA-signed tokens and API keys (tests/support/read_api.py)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.settings import Settings
from tests.support.postgres import fresh_postgres_database
from tests.support.read_api import Api, Signer, api_settings_for, new_signer, running_api


@pytest.fixture(scope="session")
def signer() -> Signer:
    return new_signer()


@pytest.fixture
def api_settings(tmp_path: Path, signer: Signer) -> Settings:
    return api_settings_for(signer, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'api.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def api(api_settings: Settings, store_url: str) -> AsyncIterator[Api]:
    settings = api_settings.model_copy(update={"database_url": SecretStr(store_url)})
    async with running_api(settings) as running:
        yield running


@pytest.fixture
async def sqlite_api(api_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(api_settings) as running:
        yield running
