"""Webhooks end to end, against real local receivers: a referral created then moved is
notified ``referral-created`` then ``referral-updated`` to its tenant's registration only,
every notification's signature verifies, and a receiver that fails at first still gets
every notification once it recovers."""

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.broker import EmbeddedBroker
from service.webhooks.signing import verify
from tests.support.http_probes import http_get
from tests.support.kafka_io import Producer, command
from tests.support.postgres import fresh_postgres_database
from tests.support.services import running
from tests.support.webhook_receiver import Request, receiving
from tests.support.webhook_service import EVENTS, register, webhook_settings

pytestmark = pytest.mark.broker


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'r.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


def signed(request: Request, secret: str) -> bool:
    return verify(secret, request.headers["x-referrals-signature"], request.body, time.time())


async def test_created_then_moved_is_notified_to_its_tenant_only_and_signed(
    broker: EmbeddedBroker, tmp_path: Path, database_url: str
) -> None:
    settings = webhook_settings(broker, tmp_path / "r.db", database_url=database_url)
    mine, theirs = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    async with running(settings), receiving(failures=2) as a, receiving() as b:
        read_only = await register(settings, "key-a-read", a.url)
        secret_a = (await register(settings, "key-a", a.url)).json()["SigningSecret"]
        secret_b = (await register(settings, "key-b", b.url)).json()["SigningSecret"]
        async with Producer(settings) as producer:
            await producer.structured(
                command("referral.create", mine, {"name": "A"}, tenantid="org-a")
            )
            await producer.structured(command("referral.accept", mine, tenantid="org-a"))
        await a.until(lambda got: len(got) >= 2)
        async with Producer(settings) as producer:
            await producer.structured(
                command("referral.create", theirs, {"name": "B"}, tenantid="org-b")
            )
        await b.until(lambda got: len(got) >= 1)
        _, metrics = await http_get(settings.http_port, "/metrics")
    assert read_only.status_code == 403
    assert a.refused == 2  # failed twice, then recovered
    assert [r.json["EventName"] for r in a.received] == EVENTS
    assert a.received[0].json == {
        "EventName": "referral-created",
        "ResourceUri": f"https://referrals.example/v1.0/engagements/referrals/{mine}",
        "ResourceName": "referral",
        "AuditUri": None,
        "ResourceChangeUtcDate": a.received[0].json["ResourceChangeUtcDate"],
    }
    assert a.received[0].json["ResourceChangeUtcDate"].endswith("+00:00")
    assert all(signed(r, secret_a) for r in a.received)
    assert not signed(a.received[0], secret_b)
    assert [r.json["ResourceUri"].rpartition("/")[2] for r in b.received] == [theirs]
    assert all(signed(r, secret_b) for r in b.received)
    assert len({r.headers["x-referrals-delivery"] for r in a.received}) == 2
    # a's creation was counted delivered before its update was sent, its failures before.
    created = 'event="referral-created"'
    assert sample(metrics, 'outcome="delivered"', created) >= 1  # a's, before its update
    assert sample(metrics, 'outcome="failed"', created) == 2


def sample(metrics: bytes, *labels: str) -> float:
    """The deliveries counter's value of the series carrying every one of ``labels``."""
    (line,) = [
        line
        for line in metrics.decode().splitlines()
        if line.startswith("referrals_webhook_deliveries_total{")
        and all(label in line for label in labels)
    ]
    return float(line.rsplit(" ", 1)[1])
