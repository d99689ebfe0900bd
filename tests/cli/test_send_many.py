"""``send --ndjson``: a few hundred mixed commands, every outcome waited for, summed up."""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from service.cli.exits import ExitStatus
from service.jsonio import loads
from service.settings import Settings
from tests.support.cli_runner import referrals, referrals_with_terminal

pytestmark = pytest.mark.broker

EXAMPLES = Path(__file__).parents[2] / "examples"


def envelope(kind: str, subject: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": kind,
        "source": "urn:t",
        "subject": subject,
    }


def mixed_commands() -> list[Any]:
    """200 applied (100 bare creates, 100 accepts), 40 no-op, 30 + 10 rejected, 20 dead."""
    referral = loads((EXAMPLES / "referral.json").read_bytes())
    creates = [{**referral, "id": f"m-{n}"} for n in range(100)]
    accepts = [envelope("referral.accept", f"m-{n}") for n in range(100)]
    again = [envelope("referral.accept", f"m-{n}") for n in range(40)]
    missing = [envelope("referral.accept", f"ghost-{n}") for n in range(30)]
    not_referrals = [f"not a referral {n}" for n in range(10)]
    unknown = [envelope("referral.frobnicate", f"m-{n}") for n in range(20)]
    return [*creates, *accepts, *again, *missing, *not_referrals, *unknown]


async def test_many_commands_get_every_outcome_and_a_summary(
    service: Settings, tmp_path: Path
) -> None:
    commands = tmp_path / "commands.ndjson"
    commands.write_text("\n".join(json.dumps(c, default=str) for c in mixed_commands()) + "\n")
    ran = await referrals(service, "--json", "send", "--ndjson", str(commands), within=120)
    assert ran.status == ExitStatus.DEAD_LETTERED, ran.stderr
    *outcomes, last = ran.json_lines()
    assert len(outcomes) == 300
    assert last["summary"] == {
        "applied": 200,
        "noop": 40,
        "rejected": 40,
        "dead-lettered": 20,
        "timed-out": 0,
        "rejectedByCode": {"itemNotFound": 30, "invalidRequest": 10},
        "deadLetteredByCode": {"unknown-type": 20},
    }
    assert [o["outcome"] for o in outcomes[:100]] == ["applied"] * 100
    assert {o["events"][0]["type"] for o in outcomes[100:200]} == {"referral.accepted"}

    # From stdin, readably, on a terminal: a progress bar, the refusals and one summary line.
    few = [
        envelope("referral.accept", "m-1"),
        envelope("referral.accept", "m-2"),
        envelope("referral.win", "ghost"),
    ]
    lines = "\n".join(json.dumps(c) for c in few).encode()
    text = await referrals_with_terminal(service, "send", "--ndjson", "-", stdin=lines)
    assert text.status == ExitStatus.REJECTED
    assert "outcomes" in text.stderr  # the progress bar's label
    assert text.stdout.splitlines()[-1] == (
        "3 commands: 0 applied, 2 no-op, 1 rejected (itemNotFound 1), 0 dead-lettered, 0 timed out"
    )


async def test_a_line_that_is_not_json_stops_the_send_before_anything_is_sent(
    settings: Settings,
) -> None:
    lines = b'{"name": "fine"}\n\n{"name": \n'
    ran = await referrals(settings, "send", "--ndjson", "-", stdin=lines)
    assert ran.status == ExitStatus.BAD_INPUT
    assert "- line 3: not JSON" in ran.assert_one_error_line()
