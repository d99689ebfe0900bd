"""The read API served by the running service (``referrals run``'s composition) beside the
consumer, on a port of its own: a referral created through Kafka is read over HTTP exactly
as its event carries it, and the operations port does not serve it."""

import json
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from service.broker import EmbeddedBroker, free_port
from service.cli.exits import ExitStatus
from service.jsonio import dumps
from service.settings import Settings
from tests.support.cli_runner import referrals
from tests.support.kafka_io import Producer, collect, command
from tests.support.read_api import REFERRALS
from tests.support.services import isolated_settings, running

pytestmark = pytest.mark.broker


async def test_a_referral_sent_as_a_command_is_read_over_the_api_port(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated_settings(
        broker.bootstrap_servers,
        tmp_path / "referrals.db",
        api_port=free_port(),
        api_keys=SecretStr(json.dumps({"key-fabrikam": "org-fabrikam"})),
    )
    referral_id = f"contoso-{uuid.uuid4()}"
    async with running(settings):
        async with Producer(settings) as producer:
            await producer.structured(
                command(
                    "referral.create", referral_id, {"name": "Contoso"}, tenantid="org-fabrikam"
                )
            )
        events = await collect(settings, [settings.events_topic], lambda got: len(got) >= 1)
        snapshot = events[0].json["referral"]
        api = f"http://127.0.0.1:{settings.api_port}"
        async with httpx.AsyncClient(timeout=10) as http:
            auth = {"Authorization": "Bearer key-fabrikam"}
            response = await http.get(f"{api}{REFERRALS}/{referral_id}", headers=auth)
            ops = await http.get(f"http://127.0.0.1:{settings.http_port}{REFERRALS}/{referral_id}")
            anonymous = await http.get(f"{api}{REFERRALS}/{referral_id}")
    assert response.status_code == 200
    assert response.content == dumps(snapshot)
    assert response.headers["etag"] == snapshot["eTag"]
    assert ops.status_code == 404
    assert anonymous.status_code == 401


async def test_referrals_api_without_authentication_settings_refuses_to_start(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=SecretStr(f"sqlite:///{tmp_path / 'r.db'}"), api_port=0)
    ran = await referrals(settings, "api", within=30)
    assert ran.status == ExitStatus.CONFIGURATION
    assert "the read API needs authentication settings" in ran.assert_one_error_line()
