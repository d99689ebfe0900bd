"""Fixtures shared by every test folder: the session's broker process and a fresh
PostgreSQL database per test (see tests/support/postgres.py for the ``postgres`` marker)."""

from collections.abc import AsyncIterator, Iterator

import pytest

from service.broker import EmbeddedBroker
from tests.support.postgres import fresh_postgres_database, mark_running_test


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture of the test is set up, so a database asked for without the marker
    # is refused whichever fixture asks.
    mark_running_test(postgres=item.get_closest_marker("postgres") is not None)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log") as running:
        yield running


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database's URL; a test using it carries ``pytest.mark.postgres``."""
    async with fresh_postgres_database() as url:
        yield url
