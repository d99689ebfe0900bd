"""Readiness follows the broker and the database: not ready while one is gone or does not
answer, ready again once it is back."""

import time
from pathlib import Path

import pytest

from service.broker import EmbeddedBroker
from tests.support.black_hole import proxied_database
from tests.support.http_probes import http_status, wait_status
from tests.support.services import isolated_settings, running

pytestmark = pytest.mark.broker


async def test_readiness_goes_false_when_the_broker_stops_and_true_when_it_is_back(
    tmp_path: Path,
) -> None:
    own_broker = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    own_broker.start()
    try:
        settings = isolated_settings(own_broker.bootstrap_servers, tmp_path / "r.db")
        async with running(settings):
            own_broker.stop()
            await wait_status(settings.http_port, "/readyz", 503, within=30)
            assert await http_status(settings.http_port, "/healthz") == 200
            own_broker.start()
            await wait_status(settings.http_port, "/readyz", 200, within=90)
    finally:
        own_broker.stop()


@pytest.mark.postgres
async def test_readiness_goes_false_within_seconds_when_the_database_stops_answering(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Connections open, no bytes back: the store's bounded waits make it an outage, and
    readiness says so well inside a readiness probe's failure window; it is ready again once
    the database answers."""
    async with proxied_database() as (proxy, url):
        settings = isolated_settings(
            broker.bootstrap_servers,
            tmp_path / "unused.db",
            database_url=url,
            database_connect_timeout_seconds=1.0,
            database_acquire_timeout_seconds=1.0,
            database_statement_timeout_seconds=2.0,
        )
        async with running(settings):
            proxy.forwarding = False
            started = time.monotonic()
            await wait_status(settings.http_port, "/readyz", 503, within=20)
            assert time.monotonic() - started < 10  # two statement bounds and a refresh
            assert await http_status(settings.http_port, "/healthz") == 200
            proxy.forwarding = True
            await wait_status(settings.http_port, "/readyz", 200, within=60)
