"""Expiry: a referral still New at its expirationDateTime is closed as Closed/Expired by the
service, through the ordered command path, within the expiry interval."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.consume.decision import policy_of
from service.expiry import BATCH_LIMIT
from service.settings import Settings
from state import Applied, Command, CommandType, decide
from state.fields import format_utc
from tests.support.kafka_io import Producer, collect, command
from tests.support.services import running

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


def _padded_to(size: int, expires: str) -> dict[str, object]:
    """A document whose stored form is ``size`` bytes, measured the way the service does."""
    document: dict[str, object] = {"expirationDateTime": expires, "notes": ""}
    policy = policy_of(Settings())
    probe = decide(None, Command(type=CommandType.CREATE, command_id="p", referral_id="x" * 40,
                                 data=document), datetime.now(UTC), policy)  # fmt: skip
    assert isinstance(probe, Applied)
    stored = policy.limits.document_bytes(probe.record.referral.to_document())
    return {**document, "notes": "n" * (size - stored)}


async def test_referrals_whose_expiry_is_refused_do_not_stop_a_later_one_expiring(
    settings: Settings,
) -> None:
    """More than a scan page of referrals whose expiry is refused (closing them would make
    their documents too large) sit before a later due referral; it still expires."""
    quick = settings.model_copy(update={"expiry_interval_seconds": 0.2, "max_document_bytes": 4096})
    blocked = [f"full-{i:04d}-{uuid.uuid4().hex[:31]}" for i in range(BATCH_LIMIT + 20)]
    later = f"later-{uuid.uuid4()}"
    async with running(quick), Producer(quick) as producer:
        for index, rid in enumerate(blocked):
            expires = format_utc(datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=index))
            await producer.structured(command("referral.create", rid, _padded_to(4080, expires)))
        await producer.structured(
            command("referral.create", later, {"expirationDateTime": "2021-01-01T00:00:00Z"})
        )

        records = await collect(
            quick,
            [quick.events_topic, quick.rejections_topic],
            lambda got: any(r.header("ce_type") == "referral.expired" for r in got),
            within=60,
        )

    created = [r for r in records if r.header("ce_type") == "referral.created"]
    assert len(created) == len(blocked) + 1  # every blocked referral was stored
    (expired,) = [r.json for r in records if r.header("ce_type") == "referral.expired"]
    assert expired["referralId"] == later
    refused = [r.json for r in records if r.topic == quick.rejections_topic]
    assert refused
    assert {(r["commandType"], r["code"]) for r in refused} == {
        ("referral.expire", "invalidRequest")
    }
