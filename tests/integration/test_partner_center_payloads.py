"""Partner Center's documented create and PATCH examples, through a real broker."""

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from service.jsonio import loads
from service.settings import Settings
from tests.support.kafka_io import Producer, collect, command

pytestmark = pytest.mark.broker
CORPUS = Path(__file__).parent.parent / "corpus" / "partner_center"


async def test_the_documented_create_and_patch_are_applied_as_sent(service: Settings) -> None:
    rid = f"pc-{uuid.uuid4()}"
    create = loads((CORPUS / "create-shared-referral-request.json").read_bytes())
    patch = loads((CORPUS / "patch-referral-request.json").read_bytes())
    async with Producer(service) as producer:
        await producer.structured(command("referral.create", rid, create))
        await producer.binary(command("referral.patch", rid, patch))
    events = await collect(service, [service.events_topic], lambda got: len(got) >= 2)

    created, updated = (e.json for e in events)
    assert (created["referralId"], updated["version"]) == (rid, 2)
    assert created["referral"]["target"] == [{"type": "SolutionProfile", "id": "SOL-34104-EBB"}]
    assert created["referral"]["customerProfile"]["ids"] == []
    assert updated["referral"]["details"]["dealValue"] == Decimal("10000")
    assert updated["referral"]["team"][-1]["firstName"] == "Jane"
