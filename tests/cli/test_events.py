"""``referrals events``: topics, filters, offsets, times, limits and following."""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from service.cli.exits import ExitStatus
from service.settings import Settings
from tests.support.cli_runner import PIPE, referrals, spawn

pytestmark = [pytest.mark.broker, pytest.mark.asyncio(loop_scope="module")]

EXAMPLES = Path(__file__).parents[2] / "examples"


def envelope(kind: str, subject: str) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": kind,
            "source": "urn:t",
            "subject": subject,
        }
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def history(shared_service: Settings) -> Settings:
    """Three created referrals, one accepted, one rejection and one dead letter."""
    referral = json.loads((EXAMPLES / "referral.json").read_text())
    lines = [json.dumps({**referral, "id": name}) for name in ("ev-a", "ev-b", "ev-c")]
    lines += [
        envelope("referral.accept", "ev-a"),
        envelope("referral.accept", "ev-ghost"),
        envelope("referral.frobnicate", "ev-b"),
    ]
    ran = await referrals(shared_service, "send", "--ndjson", "-", stdin="\n".join(lines).encode())
    assert ran.status == ExitStatus.DEAD_LETTERED, ran
    return shared_service


async def events(settings: Settings, *args: str) -> list[dict[str, Any]]:
    ran = await referrals(settings, "--json", "events", *args)
    assert ran.status == ExitStatus.OK, ran.stderr
    assert ran.stderr == ""
    return ran.json_lines()


async def test_without_options_every_event_so_far_is_printed(history: Settings) -> None:
    ran = await referrals(history, "events")
    lines = ran.stdout.splitlines()
    assert len(lines) == 4
    assert sum("referral.created" in line for line in lines) == 3
    assert any("New/Pending -> Active/Accepted" in line for line in lines)


async def test_events_filter_by_referral_type_and_limit(history: Settings) -> None:
    of_a = await events(history, "--referral", "ev-a")
    assert [e["type"] for e in of_a] == ["referral.created", "referral.accepted"]
    accepted = await events(history, "--type", "referral.accepted")
    assert [e["subject"] for e in accepted] == ["ev-a"]
    assert len(await events(history, "--limit", "2")) == 2


async def test_rejections_and_dead_letters_are_topics_too(history: Settings) -> None:
    [rejection] = await events(history, "--topic", "rejections")
    assert (rejection["subject"], rejection["data"]["code"]) == ("ev-ghost", "itemNotFound")
    [dead] = await events(history, "--topic", "dlq", "--type", "unknown-type")
    assert dead["key"] == "ev-b"
    assert await events(history, "--topic", "dlq", "--type", "not-json") == []


async def test_events_start_at_an_offset_or_a_time(history: Settings) -> None:
    of_a = await events(history, "--referral", "ev-a")
    created, accepted = (event["kafka"] for event in of_a)
    assert created["partition"] == accepted["partition"]  # one referral, one partition
    partition = str(accepted["partition"])
    later = await events(history, "--partition", partition, "--offset", str(accepted["offset"]))
    assert [e["type"] for e in later] == ["referral.accepted"]
    moment = datetime.fromtimestamp(accepted["timestamp"] / 1000, UTC).isoformat()
    since = await events(history, "--since", moment)
    assert "referral.accepted" in {e["type"] for e in since}
    assert all(e["kafka"]["timestamp"] >= accepted["timestamp"] for e in since)
    assert await events(history, "--since", "2999-01-01T00:00:00Z") == []
    assert len(await events(history, "--since", "1h")) == 4
    refused = await referrals(history, "events", "--offset", "0", "--since", "1h")
    assert refused.status == ExitStatus.USAGE


async def test_follow_prints_new_events_as_they_come(history: Settings) -> None:
    start = datetime.now(UTC).isoformat()
    follower = await spawn(
        history, "--json", "events", "--follow", "--since", start, "--limit", "1", stdout=PIPE
    )
    won = await referrals(history, "send", "--type", "referral.win", "--subject", "ev-c")
    assert won.status == ExitStatus.OK, won
    out, _ = await asyncio.wait_for(follower.communicate(), 30)
    assert follower.returncode == ExitStatus.OK
    [event] = [json.loads(line) for line in out.splitlines()]
    assert (event["type"], event["subject"]) == ("referral.won", "ev-c")
