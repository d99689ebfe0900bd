"""Readiness follows the broker: not ready while it is gone, ready again once it is back."""

from pathlib import Path

import pytest

from service.broker import EmbeddedBroker
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
