"""Expiry: a referral still New at its expirationDateTime is closed as Closed/Expired by the
service, through the ordered command path, within the expiry interval."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.settings import Settings
from state.fields import format_utc
from tests.integration.conftest import running
from tests.integration.kafka_helpers import Producer, collect, command

pytestmark = pytest.mark.broker


async def test_a_new_referral_past_its_expiration_is_expired_once(settings: Settings) -> None:
    quick = settings.model_copy(update={"expiry_interval_seconds": 0.3})
    soon = format_utc(datetime.now(UTC) + timedelta(seconds=1))
    long_past = format_utc(datetime.now(UTC) - timedelta(days=1))
    expiring, lasting, active = (f"{name}-{uuid.uuid4()}" for name in ("exp", "keep", "act"))
    async with running(quick), Producer(quick) as producer:
        due_soon = {"expirationDateTime": soon}
        accepted_long_ago = {"status": "Active", "expirationDateTime": long_past}
        await producer.structured(command("referral.create", expiring, due_soon, tenantid="org-1"))
        await producer.structured(command("referral.create", lasting, {"name": "default expiry"}))
        await producer.structured(command("referral.create", active, accepted_long_ago))

        events = await collect(
            quick,
            [quick.events_topic],
            lambda got: any(e.header("ce_type") == "referral.expired" for e in got),
            within=30,
        )
        await producer.structured(command("referral.win", lasting))
        events = await collect(
            quick,
            [quick.events_topic, quick.rejections_topic],
            lambda got: any(e.key == lasting.encode() and e.json.get("version") == 2 for e in got),
        )

    expired = [e for e in events if e.header("ce_type") == "referral.expired"]
    assert len(expired) == 1
    data = expired[0].json
    assert data["referralId"] == expiring
    assert (data["previousStatus"], data["status"], data["substatus"]) == (
        "New",
        "Closed",
        "Expired",
    )
    assert data["referral"]["statusReason"].startswith("Expired")
    assert [r for r in events if r.topic == quick.rejections_topic] == []
    default_expiry = next(e.json for e in events if e.key == lasting.encode())
    created = datetime.fromisoformat(default_expiry["referral"]["createdDateTime"])
    expires = datetime.fromisoformat(default_expiry["referral"]["expirationDateTime"])
    assert expires - created == timedelta(days=14)
