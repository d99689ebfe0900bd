"""The write API's pure parts: each request becomes exactly the contract's command, sent to
the caller's tenant's topic; the outcome waiter settles a command by its tenant and id,
never another's, and keeps a bounded memory."""

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from service.api.writes import commands as write_commands
from service.api.writes.answers import Rejected, refused, rejected_response, stored_outcome
from service.api.writes.waiter import CommandOutcome, OutcomeWaiter, TooManyWaiting
from service.codec import WireLimits, command_record
from service.command_reading import decode_command, read_command
from service.jsonio import dumps, loads
from service.payloads import rejection_payload, rejection_reason
from service.settings import Settings
from service.store import ProcessedCommand
from state import Command, CommandKey, CommandType, FieldProblem, RejectionCode
from state import Rejected as StateRejected

SETTINGS = Settings(tenant_topics={"org-a": "commands-org-a"})


def read_back(command: write_commands.WriteCommand) -> Command:
    """The command as the service reads the record it is sent as."""
    record = command_record(command.envelope)
    return decode_command(record.value, record.headers, WireLimits())


def test_a_create_is_the_contracts_create_command_of_the_callers_tenant() -> None:
    made = write_commands.create(SETTINGS, "req-1", "org-a", {"id": "contoso-1", "name": "C"})

    read = read_back(made)

    assert (read.type, read.command_id, read.referral_id) == (
        CommandType.CREATE, "req-1", "contoso-1",
    )  # fmt: skip
    assert (read.declared_tenant_id, read.data) == ("org-a", {"id": "contoso-1", "name": "C"})
    assert made.topic == "commands-org-a"
    assert made.envelope["source"] == write_commands.API_SOURCE


def test_a_create_without_an_id_names_the_same_referral_on_every_retry() -> None:
    first = write_commands.create(SETTINGS, "req-1", "org-a", {"name": "C"})
    again = write_commands.create(SETTINGS, "req-1", "org-a", {"name": "C"})
    other_tenant = write_commands.create(SETTINGS, "req-1", "org-b", {"name": "C"})

    assert first.envelope == again.envelope
    assert other_tenant.referral_id != first.referral_id
    assert other_tenant.topic == SETTINGS.commands_topic  # a tenant without a topic of its own


def test_a_patch_and_a_replace_carry_the_if_match_and_a_replace_drops_links() -> None:
    operations = [{"op": "replace", "path": "/name", "value": "D"}]
    patch = read_back(write_commands.patch(SETTINGS, "p", None, "r", operations, '"e1"'))
    replace = read_back(
        write_commands.replace(SETTINGS, "q", None, "r", {"name": "D", "links": {}}, '"e1"')
    )

    assert (patch.type, patch.if_match, patch.data) == (CommandType.PATCH, '"e1"', operations)
    assert (replace.type, replace.if_match, replace.data) == (
        CommandType.REPLACE, '"e1"', {"name": "D"},
    )  # fmt: skip
    assert patch.declared_tenant_id is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"ms-requestid": "a", "request-id": "b", "idempotency-key": "c"}, "a"),
        ({"request-id": "b", "idempotency-key": "c"}, "b"),
        ({"idempotency-key": "c"}, "c"),
        ({}, None),
    ],
)
def test_the_request_id_is_the_first_of_its_headers(
    headers: dict[str, str], expected: str | None
) -> None:
    assert write_commands.request_id(headers) == expected


@dataclass
class Record:
    topic: str
    value: bytes
    headers: list[tuple[str, bytes]]


def outcome_record(topic: str, cause: str, tenant: str | None, data: Any) -> Record:
    headers = [("ce_causationid", cause.encode()), ("ce_type", b"t")]
    if tenant:
        headers.append(("ce_tenantid", tenant.encode()))
    return Record(topic, dumps(data), headers)


async def test_the_waiter_settles_a_command_by_its_tenant_and_id_only() -> None:
    waiter = OutcomeWaiter(SETTINGS)
    mine = waiter.expect(CommandKey("org-a", "c-1"))

    waiter._take(outcome_record(SETTINGS.events_topic, "c-1", "org-b", {"referral": {}}))
    assert not mine.done()
    waiter._take(outcome_record(SETTINGS.rejections_topic, "c-1", "org-a", {"code": "conflict"}))

    outcome = await asyncio.wait_for(mine, 1)
    assert outcome.rejection == {"code": "conflict"}
    assert waiter.recent(CommandKey("org-a", "c-1")) is outcome
    assert waiter.recent(CommandKey("org-b", "c-1")) is None


async def test_the_waiter_keeps_a_bounded_memory() -> None:
    waiter = OutcomeWaiter(SETTINGS, max_pending=2, max_recent=2)
    waiter.expect(CommandKey(None, "a"))
    waiter.expect(CommandKey(None, "b"))
    with pytest.raises(TooManyWaiting):
        waiter.expect(CommandKey(None, "c"))
    for name in "abc":
        if name == "c":
            waiter.expect(CommandKey(None, "c"))
        waiter._take(outcome_record(SETTINGS.events_topic, name, None, {"referral": {}}))

    assert [waiter.recent(CommandKey(None, n)) is not None for n in "abc"] == [False, True, True]


async def test_an_outcome_after_the_request_gave_up_is_still_kept_for_the_status_url() -> None:
    waiter = OutcomeWaiter(SETTINGS)
    key = CommandKey("org-a", "late")
    waiter.expect(key)
    waiter.forget(key)
    assert waiter.waiting(key)

    waiter._take(outcome_record(SETTINGS.events_topic, "late", "org-a", {"referral": {"id": "r"}}))

    known = waiter.recent(key)
    assert known is not None
    assert known.referral == {"id": "r"}
    assert not waiter.waiting(key)


def test_a_rejection_maps_to_partner_centers_status_and_code() -> None:
    def mapped(code: str) -> tuple[int, str, str | None]:
        error = Rejected({"code": code, "message": "m", "details": []})
        return error.status, error.code, error.target

    assert mapped("invalidRequest") == (400, "invalidRequest", None)
    assert mapped("itemNotFound") == (404, "itemNotFound", None)
    assert mapped("preconditionFailed") == (412, "preconditionFailed", "ETag")
    assert mapped("conflict") == (409, "conflict", None)
    assert mapped("accessDenied") == (403, "accessDenied", None)
    assert mapped("illegalTransition") == (400, "invalidRequest", None)


def test_a_stored_reason_is_refused_as_the_rejection_it_was_taken_from() -> None:
    rejected = StateRejected(
        RejectionCode.ILLEGAL_TRANSITION,
        "a referral in Closed/Won cannot move to Active/Accepted",
        (FieldProblem("/status", "illegal", "Closed moves only to Closed"),),
    )
    command = Command(type=CommandType.ACCEPT, command_id="c1", referral_id="r1")
    carried = loads(dumps(rejection_payload(command, rejected)))  # as the waiter reads it
    stored = ProcessedCommand("c1", "r1", "rejected", None, rejection_reason(rejected))

    exact = stored_outcome(stored)
    from_memory = refused(CommandOutcome(rejection=carried))
    from_store = refused(exact) if exact is not None else None

    assert isinstance(from_memory, Rejected)
    assert isinstance(from_store, Rejected)
    assert rejected_response(from_store).body == rejected_response(from_memory).body
    assert stored_outcome(ProcessedCommand("c1", "r1", "rejected")) is None  # kept no reason


async def test_the_waiter_reads_outcomes_in_structured_mode_too() -> None:
    waiter = OutcomeWaiter(SETTINGS)
    mine = waiter.expect(CommandKey("org-a", "c-1"))
    envelope = {
        "specversion": "1.0", "id": "e", "type": "referral.created", "source": "s",
        "causationid": "c-1", "tenantid": "org-a", "data": {"referral": {"id": "r"}},
    }  # fmt: skip
    structured = [("content-type", b"application/cloudevents+json")]

    waiter._take(Record(SETTINGS.events_topic, dumps(envelope), structured))

    assert (await asyncio.wait_for(mine, 1)).referral == {"id": "r"}


def test_a_traced_request_gives_its_command_the_trace_context() -> None:
    made = write_commands.create(SETTINGS, "req-1", "org-a", {"id": "r"})
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    carried = write_commands.traced(made, {"traceparent": parent, "other": "x"})

    assert carried.envelope == {**made.envelope, "traceparent": parent}
    assert write_commands.traced(made, {}) is made
    record = command_record(carried.envelope)
    _, context = read_command(record.value, record.headers, WireLimits())
    assert context == (("traceparent", parent),)  # what the service's span continues
