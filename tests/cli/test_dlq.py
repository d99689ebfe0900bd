"""``referrals dlq``: a producer sent garbage; list it, look at it, redrive it once."""

import json
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from service.cli.exits import ExitStatus
from service.client.dlq import REDRIVE_OF
from service.settings import Settings
from tests.support.cli_runner import referrals
from tests.support.kafka_io import Producer, collect

pytestmark = [pytest.mark.broker, pytest.mark.asyncio(loop_scope="module")]

EXAMPLES = Path(__file__).parents[2] / "examples"
BINARY_CREATE = [
    (f"ce_{name}", value.encode())
    for name, value in {
        "specversion": "1.0",
        "id": "bin-1",
        "type": "referral.create",
        "source": "urn:crm",
        "subject": "dl-binary",
    }.items()
]
UNKNOWN = {
    "specversion": "1.0",
    "id": "typo-1",
    "type": "referral.craete",
    "source": "urn:crm",
    "subject": "dl-typo",
    "data": {"name": "typo"},
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def garbage(shared_service: Settings) -> dict[str, str]:
    """Three records a broken producer sent -> the address of each one's dead letter."""
    async with Producer(shared_service) as producer:
        sent = {
            "not-json": await producer.raw(b"{oops", b"dl-broken"),
            "binary": await producer.raw(b"\xff\xfe", b"dl-binary", BINARY_CREATE),
            "unknown": await producer.structured(UNKNOWN),
        }
    letters = await collect(shared_service, [shared_service.dlq_topic], lambda r: len(r) >= 3)
    by_origin = {
        (r.header("x-original-partition"), r.header("x-original-offset")): r for r in letters
    }
    return {
        name: f"{by_origin[(str(m.partition), str(m.offset))].partition}:"
        f"{by_origin[(str(m.partition), str(m.offset))].offset}"
        for name, m in sent.items()
    }


async def dlq(settings: Settings, *args: str) -> list[Any]:
    ran = await referrals(settings, "--json", "dlq", *args)
    assert ran.status == ExitStatus.OK, ran
    assert ran.stderr == ""
    return ran.json_lines()


async def test_list_shows_reason_origin_age_and_size(
    shared_service: Settings, garbage: dict[str, str]
) -> None:
    listed = {letter["deadLetter"]: letter for letter in await dlq(shared_service, "list")}
    broken = listed[garbage["not-json"]]
    assert broken["reason"] == "not-json"
    assert broken["originTopic"] == shared_service.commands_topic
    assert (broken["size"], broken["key"], broken["ageSeconds"] >= 0) == (5, "dl-broken", True)
    assert listed[garbage["unknown"]]["reason"] == "unknown-type"
    only = await dlq(shared_service, "list", "--reason", "unknown-type")
    assert [letter["deadLetter"] for letter in only] == [garbage["unknown"]]
    assert await dlq(shared_service, "list", "--since", "2999-01-01") == []
    text = await referrals(shared_service, "dlq", "list", "--reason", "not-json")
    assert garbage["not-json"] in text.stdout
    assert "dl-broken" not in text.stderr


async def test_show_prints_the_bytes_and_headers_readably(
    shared_service: Settings, garbage: dict[str, str]
) -> None:
    [broken, binary] = await dlq(shared_service, "show", garbage["not-json"], garbage["binary"])
    assert broken["value"] == {"text": "{oops"}
    assert binary["value"] == {"base64": "//4="}
    headers = {header["name"]: header["text"] for header in binary["headers"]}
    assert (headers["ce_id"], headers["x-error-code"]) == ("bin-1", "not-json")
    text = await referrals(shared_service, "dlq", "show", garbage["not-json"])
    assert "x-error-message: value is not JSON" in text.stdout
    missing = await referrals(shared_service, "dlq", "show", "0:999999")
    assert missing.status == ExitStatus.NOT_FOUND
    missing.assert_one_error_line()


async def test_redrive_as_is_happens_once(
    shared_service: Settings, garbage: dict[str, str]
) -> None:
    address = garbage["not-json"]
    [planned] = await dlq(shared_service, "redrive", address, "--dry-run")
    assert planned["action"] == "would-redrive"
    assert planned["headers"][REDRIVE_OF] == f"{shared_service.dlq_topic}:{address}"
    assert planned["value"] == "{oops"
    first = await referrals(shared_service, "--json", "dlq", "redrive", address)
    assert first.status == ExitStatus.DEAD_LETTERED  # still garbage: dead-lettered again
    second = await referrals(shared_service, "--json", "dlq", "redrive", address)
    assert second.status == ExitStatus.OK
    assert second.json_lines()[0]["action"] == "skipped"
    again = await dlq(shared_service, "list", "--reason", "not-json")
    redriven = [letter for letter in again if letter["redriveOf"] is not None]
    assert [letter["redriveOf"] for letter in redriven] == [planned["headers"][REDRIVE_OF]]


async def test_a_corrected_replacement_applies_once(
    shared_service: Settings, garbage: dict[str, str], tmp_path: Path
) -> None:
    referral = EXAMPLES / "referral.json"  # the data the binary-mode command should have had
    ran = await referrals(
        shared_service, "--json", "dlq", "redrive", garbage["binary"], "--replace", str(referral)
    )
    assert ran.status == ExitStatus.OK, ran
    [result] = ran.json_lines()
    assert (result["action"], result["outcome"], result["command"]) == (
        "redriven",
        "applied",
        "bin-1",
    )
    shown = await referrals(shared_service, "--json", "show", "dl-binary")
    assert shown.json_lines()[0]["name"] == json.loads(referral.read_text())["name"]
    twice = await referrals(
        shared_service, "dlq", "redrive", garbage["binary"], "--replace", str(referral)
    )
    assert (twice.status, "already redriven" in twice.stdout) == (ExitStatus.OK, True)

    corrected = tmp_path / "corrected.json"
    corrected.write_text(json.dumps({**UNKNOWN, "type": "referral.create"}))
    fixed = await referrals(
        shared_service, "dlq", "redrive", garbage["unknown"], "--replace", str(corrected)
    )
    assert fixed.status == ExitStatus.OK, fixed
    assert "applied" in fixed.stdout


async def test_redrive_needs_a_choice(shared_service: Settings, garbage: dict[str, str]) -> None:
    nothing = await referrals(shared_service, "dlq", "redrive")
    assert nothing.status == ExitStatus.USAGE
    several = await referrals(shared_service, "dlq", "redrive", "--all", "--replace", "x.json")
    assert several.status == ExitStatus.USAGE
    assert "one dead letter" in several.assert_one_error_line()
