"""A bulk ``dlq redrive`` skips, and reports, a dead letter it cannot send as it is, and
sends the rest: one record with a megabyte of headers blocks nothing."""

import pytest

from service.cli.exits import ExitStatus
from service.settings import Settings
from tests.support.cli_runner import referrals
from tests.support.kafka_io import Producer, collect

pytestmark = pytest.mark.broker

#: Over half the dead-letter room: the copy of this record is cut to fit (headers dropped).
HUGE_HEADER = [("trace-blob", b"h" * 900_000)]


async def test_a_bulk_redrive_skips_a_letter_cut_to_fit_and_sends_the_others(
    service: Settings,
) -> None:
    async with Producer(service) as producer:
        huge = await producer.raw(b"<xml/>" * 21_000, b"dl-huge", HUGE_HEADER)
        plain = await producer.raw(b"{oops", b"dl-plain")
    letters = await collect(service, [service.dlq_topic], lambda found: len(found) >= 2)
    address = {
        (
            r.header("x-original-partition"),
            r.header("x-original-offset"),
        ): f"{r.partition}:{r.offset}"
        for r in letters
    }
    cut = address[str(huge.partition), str(huge.offset)]
    whole = address[str(plain.partition), str(plain.offset)]

    planned = await referrals(service, "--json", "dlq", "redrive", "--all", "--dry-run")
    assert planned.status == ExitStatus.SKIPPED, planned
    by_letter = {line["deadLetter"]: line for line in planned.json_lines()}
    assert by_letter[cut]["action"] == "skipped"
    assert by_letter[cut]["reason"] == "not-json"
    assert "x-truncated" in by_letter[cut]["message"]
    assert by_letter[whole]["action"] == "would-redrive"

    ran = await referrals(service, "--json", "dlq", "redrive", "--reason", "not-json", "--no-wait")
    assert ran.status == ExitStatus.SKIPPED, ran
    actions = {line["deadLetter"]: line["action"] for line in ran.json_lines()}
    assert actions == {cut: "skipped", whole: "redriven"}
    redriven = await collect(
        service,
        [service.commands_topic],
        lambda found: any("x-redrive-of" in r.headers for r in found),
    )
    assert [r.value for r in redriven if "x-redrive-of" in r.headers] == [b"{oops"]

    named = await referrals(service, "dlq", "redrive", cut)
    assert named.status == ExitStatus.BAD_INPUT
    assert "--replace" in named.assert_one_error_line()
