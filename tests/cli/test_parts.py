"""The CLI's pure parts, without a broker: envelopes, times, outcomes, redrive records."""

from dataclasses import dataclass
from datetime import UTC, datetime

import click
import pytest

from service.cli.send import exit_status
from service.cli.when import since_ms
from service.client.describe import age
from service.client.dlq import REDRIVE_OF, DeadLetter, NotRedrivable, redrive_record
from service.client.envelopes import EnvelopeConflict, envelope_for
from service.client.outcomes import AnswerKind, CommandAnswer, summary
from service.jsonio import loads
from service.outcomes import OutcomeKind  # the commands metric's outcome label

NO_OPTIONS = {"type": None, "subject": None, "ifmatch": None}


def test_bare_data_becomes_a_create_named_by_its_id() -> None:
    envelope = envelope_for({"id": "r-1", "name": "n"}, NO_OPTIONS)
    assert (envelope["type"], envelope["subject"]) == ("referral.create", "r-1")
    accept = envelope_for(None, {**NO_OPTIONS, "type": "referral.accept", "subject": "r-1"})
    assert "data" not in accept


def test_options_fill_an_envelope_but_never_contradict_it() -> None:
    given = {"specversion": "1.0", "id": "c", "type": "referral.accept", "subject": "r"}
    filled = envelope_for(given, {**NO_OPTIONS, "ifmatch": '"e"', "subject": "r"})
    assert filled == {**given, "ifmatch": '"e"'}
    with pytest.raises(EnvelopeConflict, match="'subject'"):
        envelope_for(given, {**NO_OPTIONS, "subject": "other"})


def test_a_time_is_iso_8601_or_an_age() -> None:
    assert since_ms(None, None, "2026-12-01T08:00:00Z") == 1_796_112_000_000
    assert since_ms(None, None, "2026-12-01T08:00:00") == 1_796_112_000_000
    now = datetime.now(UTC).timestamp() * 1000
    assert abs(since_ms(None, None, "15m") - (now - 900_000)) < 5_000
    with pytest.raises(click.BadParameter):
        since_ms(None, None, "yesterday")


def test_ages_use_the_largest_unit_that_fits() -> None:
    assert [age(s) for s in (5, 61, 7200, 200_000)] == ["5s", "1m", "2h", "2d"]


def test_the_worst_outcome_decides_the_exit_status_and_the_summary_counts_codes() -> None:
    rejected = CommandAnswer("a", 0, 0, rejection={"data": {"code": "conflict"}})
    noop = CommandAnswer("b", 0, 1, acknowledged=True)
    dead = CommandAnswer("c", 0, 2, dead_letter={"x-error-code": "not-json"})
    assert exit_status([noop]) == 0
    assert exit_status([noop, rejected]) == 2
    assert exit_status([rejected, dead, noop]) == 3
    assert exit_status([dead, CommandAnswer("d", 0, 3)]) == 4
    counts = summary([rejected, noop, dead])
    assert (counts["rejectedByCode"], counts["deadLetteredByCode"]) == (
        {"conflict": 1},
        {"not-json": 1},
    )


@dataclass
class Record:
    topic: str = "dlq"
    partition: int = 1
    offset: int = 7
    timestamp: int = 0
    key: bytes | None = b"r-9"
    value: bytes | None = b"\xff"
    headers: tuple[tuple[str, bytes], ...] = (
        ("ce_specversion", b"1.0"),
        ("ce_id", b"cmd-9"),
        ("ce_type", b"referral.create"),
        ("ce_source", b"urn:x"),
        ("ce_subject", b"r-9"),
        ("x-error-code", b"not-json"),
        ("x-original-offset", b"3"),
    )


def test_a_redrive_sends_the_original_headers_and_marks_the_dead_letter() -> None:
    sent = redrive_record(DeadLetter(Record()), at_ms=0)
    names = [name for name, _ in sent.record.headers]
    assert "x-error-code" not in names
    assert "x-original-offset" not in names
    assert (REDRIVE_OF, b"dlq:1:7") in sent.record.headers
    assert (sent.command_id, sent.record.value, sent.record.key) == ("cmd-9", b"\xff", b"r-9")


def test_a_replacement_is_the_data_of_a_binary_command_or_a_whole_envelope() -> None:
    data = redrive_record(DeadLetter(Record()), {"name": "fixed"}, at_ms=0)
    assert data.record.value is not None
    assert loads(data.record.value) == {"name": "fixed"}
    assert ("ce_id", b"cmd-9") in data.record.headers
    envelope = {"specversion": "1.0", "id": "new", "type": "referral.create", "source": "s"}
    whole = redrive_record(DeadLetter(Record(headers=())), envelope, at_ms=0)
    assert whole.command_id == "new"
    with pytest.raises(NotRedrivable, match="binary-mode"):
        redrive_record(DeadLetter(Record(headers=())), {"name": "data only"})
    for altered in ("x-truncated", "x-minimal", "x-original-headers-dropped"):
        with pytest.raises(NotRedrivable, match=f"not the record as it came \\({altered}\\)"):
            redrive_record(DeadLetter(Record(headers=((altered, b"1"),))))


def test_the_answers_a_sender_gets_are_spelled_as_the_service_counts_its_outcomes() -> None:
    counted = {kind.value for kind in OutcomeKind}
    answered = {kind.value for kind in AnswerKind} - {AnswerKind.TIMED_OUT.value}
    assert answered <= counted
    assert CommandAnswer("b", 0, 1, acknowledged=True).to_json()["outcome"] == "noop"
