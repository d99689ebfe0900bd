"""Writes over REST in Partner Center's shape, through the running service (``referrals
run``'s composition), a real broker and a real store: every documentation write example is
accepted over HTTP, read back by GET and seen on the events topic; a retry with the same
request id is answered the same with one event; a stale If-Match is a 412 in Partner
Center's body; an illegal move a 400 naming the rule; a tenant cannot touch another's."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from service.broker import EmbeddedBroker, free_port
from service.jsonio import loads
from service.settings import Settings
from tests.support.kafka_io import collect
from tests.support.read_api import REFERRALS
from tests.support.services import isolated_settings, running

pytestmark = pytest.mark.broker
CORPUS = Path(__file__).parent.parent / "corpus" / "partner_center"
KEYS = {
    "key-a": {"tenant": "org-a", "write": True},
    "key-b": {"tenant": "org-b", "write": True},
    "key-a-read": "org-a",
}
A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}


def corpus(name: str) -> Any:
    return loads((CORPUS / name).read_bytes())


@pytest.fixture
async def service(
    broker: EmbeddedBroker, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    overrides = getattr(request, "param", {})
    settings = isolated_settings(
        broker.bootstrap_servers,
        tmp_path / "referrals.db",
        api_port=free_port(),
        api_keys=SecretStr(json.dumps(KEYS)),
        **overrides,
    )
    async with running(settings):
        base = f"http://127.0.0.1:{settings.api_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            yield settings, http


async def test_a_documented_create_is_answered_201_and_read_back_and_published(
    service: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, http = service
    document = corpus("create-shared-referral-request.json")

    created = await http.post(REFERRALS, json=document, headers=A)

    assert created.status_code == 201, created.text
    referral = created.json()
    assert created.headers["etag"] == referral["eTag"]
    assert created.headers["location"] == f"{REFERRALS}/{referral['id']}"
    assert referral["name"] == document["name"]
    read = await http.get(created.headers["location"], headers=A)
    assert read.content == created.content
    events = await collect(settings, [settings.events_topic], lambda got: len(got) >= 1)
    assert [e.header("ce_causationid") for e in events] == [created.headers["request-id"]]
    assert events[0].json["referral"] == loads(created.content)
