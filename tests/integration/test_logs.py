"""Logs are JSON lines and never carry personal data from referral documents."""

import logging
import uuid

import orjson
import pytest
from pydantic import SecretStr

from service.logs import JsonFormatter
from service.settings import Settings
from tests.support.kafka_io import Producer, collect, command
from tests.support.services import running

pytestmark = pytest.mark.broker

PERSONAL = {
    "email": "alex.wilber@contoso.example",
    "phone": "+1 425 555 0199",
    "first": "Alexandrina",
    "last": "Wilberforce-Smythe",
}


async def test_no_log_line_carries_contact_data_even_when_a_command_fails(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    member = {
        "firstName": PERSONAL["first"],
        "lastName": PERSONAL["last"],
        "phoneNumber": PERSONAL["phone"],
        "email": PERSONAL["email"],
    }
    good = {"customerProfile": {"team": [member]}, "team": [member]}
    bad = {"customerProfile": {"team": [{**member, "email": f"not-an-email {PERSONAL['email']}"}]}}
    caplog.set_level(logging.DEBUG, logger="service")
    async with running(settings), Producer(settings) as producer:
        await producer.structured(command("referral.create", f"r-{uuid.uuid4()}", good))
        await producer.structured(command("referral.create", f"r-{uuid.uuid4()}", bad))
        await producer.raw(orjson.dumps({"not": "a command", "email": PERSONAL["email"]}))
        await collect(settings, [settings.events_topic], lambda got: len(got) == 1)
        await collect(settings, [settings.rejections_topic], lambda got: len(got) == 1)
        await collect(settings, [settings.dlq_topic], lambda got: len(got) == 1)

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any("service starting" in line for line in lines)
    for line in lines:
        assert isinstance(orjson.loads(line), dict)
        for value in PERSONAL.values():
            assert value not in line


@pytest.mark.postgres
async def test_a_database_url_with_credentials_in_its_query_is_logged_masked(
    settings: Settings, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = "password=hunter2-query&sslpassword=hunter2-ssl"
    separator = "&" if "?" in postgres_url else "?"
    with_secrets = settings.model_copy(
        update={"database_url": SecretStr(f"{postgres_url}{separator}{credentials}")}
    )
    caplog.set_level(logging.INFO, logger="service")
    async with running(with_secrets):
        pass

    lines = [JsonFormatter().format(record) for record in caplog.records]
    (starting,) = [orjson.loads(line) for line in lines if "service starting" in line]
    assert starting["settings"]["database_url"].endswith("password=***&sslpassword=***")
    assert not [line for line in lines if "hunter2" in line]
