"""Logs are JSON lines and never carry personal data from referral documents."""

import logging
import uuid

import orjson
import pytest

from service.logs import JsonFormatter
from service.settings import Settings
from tests.integration.conftest import running
from tests.integration.kafka_helpers import Producer, collect, command

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
