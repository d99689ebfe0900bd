"""The decision: every rejection code, idempotent no-ops, versions, eTags and event contents."""

import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from state import (
    Command,
    CommandType,
    EventType,
    Policy,
    ReferralEvent,
    ReferralRecord,
    ReferralStatus,
    ReferralSubstatus,
    RejectionCode,
    decide,
)
from tests.support.builders import (
    LATER,
    NOW,
    REFERRAL_ID,
    TENANT,
    applied,
    command,
    created,
    created_in,
    patch_ops,
    rejected,
)

QUOTED = re.compile(r'^"[^"]+"$')
EVERY_COMMAND_ON_AN_EXISTING_REFERRAL = [
    CommandType.PATCH,
    CommandType.REPLACE,
    CommandType.ACCEPT,
    CommandType.DECLINE,
    CommandType.WIN,
    CommandType.LOSE,
    CommandType.EXPIRE,
]


def _valid_data_for(kind: CommandType) -> Any:
    if kind is CommandType.PATCH:
        return [{"op": "add", "path": "/name", "value": "Fabrikam rollout"}]
    if kind is CommandType.REPLACE:
        return {"name": "Fabrikam rollout"}
    return None


def _run(
    record: ReferralRecord | None, *commands: Command, now: datetime = NOW
) -> tuple[ReferralRecord, list[ReferralEvent]]:
    events: list[ReferralEvent] = []
    for each in commands:
        result = applied(decide(record, each, now))
        record = result.record
        events += result.events
    assert record is not None
    return record, events


# --- itemNotFound --------------------------------------------------------------------------


def test_accepting_an_unknown_referral_is_item_not_found() -> None:
    decision = rejected(decide(None, command(CommandType.ACCEPT), NOW))

    assert decision.code is RejectionCode.ITEM_NOT_FOUND
    assert REFERRAL_ID not in decision.message  # the rejection names it in referralId


@pytest.mark.parametrize("kind", EVERY_COMMAND_ON_AN_EXISTING_REFERRAL)
def test_every_command_but_create_on_an_unknown_referral_is_item_not_found(
    kind: CommandType,
) -> None:
    decision = decide(None, command(kind, _valid_data_for(kind), if_match='"x"'), NOW)

    assert rejected(decision).code is RejectionCode.ITEM_NOT_FOUND


# --- conflict ------------------------------------------------------------------------------


def test_creating_a_referral_that_already_exists_is_a_conflict() -> None:
    stored = created({"name": "Contoso"})

    decision = rejected(decide(stored, command(CommandType.CREATE, {"name": "Contoso"}), LATER))

    assert decision.code is RejectionCode.CONFLICT


# --- preconditionFailed --------------------------------------------------------------------


def test_a_replace_without_ifmatch_fails_its_precondition() -> None:
    decision = rejected(decide(created(), command(CommandType.REPLACE, {"name": "x"}), NOW))

    assert decision.code is RejectionCode.PRECONDITION_FAILED


def test_a_patch_with_a_stale_ifmatch_fails_its_precondition() -> None:
    first = created({"name": "Contoso"})
    stale = first.referral.e_tag
    second, _ = _run(first, command(CommandType.PATCH, patch_ops(name="Contoso EMEA")))

    decision = decide(
        second, command(CommandType.PATCH, patch_ops(name="Contoso APAC"), if_match=stale), NOW
    )

    assert rejected(decision).code is RejectionCode.PRECONDITION_FAILED


@pytest.mark.parametrize("kind", EVERY_COMMAND_ON_AN_EXISTING_REFERRAL)
def test_any_command_with_a_stale_ifmatch_fails_its_precondition(kind: CommandType) -> None:
    decision = decide(
        created(), command(kind, _valid_data_for(kind), if_match='"not-the-etag"'), NOW
    )

    assert rejected(decision).code is RejectionCode.PRECONDITION_FAILED


@pytest.mark.parametrize("spelling", ["{etag}", "{bare}", "W/{etag}", "*"])
def test_a_matching_ifmatch_in_any_usual_spelling_is_accepted(spelling: str) -> None:
    stored = created()
    etag = stored.referral.e_tag
    assert etag is not None
    if_match = spelling.format(etag=etag, bare=etag.strip('"'))

    decision = decide(stored, command(CommandType.REPLACE, {"name": "x"}, if_match=if_match), NOW)

    assert applied(decision).record.referral.name == "x"


# --- tenants: another tenant's referral is a missing one --------------------------------


EVERY_COMMAND = [CommandType.CREATE, *EVERY_COMMAND_ON_AN_EXISTING_REFERRAL]


@pytest.mark.parametrize("other_tenant", ["org-fabrikam", None])
@pytest.mark.parametrize("kind", EVERY_COMMAND)
def test_another_tenants_referral_is_decided_exactly_as_a_missing_one(
    kind: CommandType, other_tenant: str | None
) -> None:
    stored = created(tenant_id=TENANT)
    probe = command(
        kind, _valid_data_for(kind), if_match=stored.referral.e_tag, tenant_id=other_tenant
    )

    assert decide(stored, probe, NOW) == decide(None, probe, NOW)


@pytest.mark.parametrize("kind", EVERY_COMMAND_ON_AN_EXISTING_REFERRAL)
def test_a_referral_created_without_a_tenant_is_missing_for_every_tenant(
    kind: CommandType,
) -> None:
    stored = created()
    probe = command(kind, _valid_data_for(kind), if_match=stored.referral.e_tag, tenant_id=TENANT)

    assert rejected(decide(stored, probe, NOW)).code is RejectionCode.ITEM_NOT_FOUND


def test_a_create_by_another_tenant_over_a_taken_id_makes_that_tenants_own_referral() -> None:
    stored = created(tenant_id=TENANT)

    result = applied(decide(stored, command(CommandType.CREATE, {}, tenant_id="org-b"), NOW))

    assert result.record.tenant_id == "org-b"
    assert result.record.referral_id == stored.referral_id
    assert result.record.version == 1


def test_two_tenants_referrals_of_one_id_share_no_etag_and_no_event_id() -> None:
    first = applied(decide(None, command(CommandType.CREATE, {}, tenant_id=TENANT), NOW))
    second = applied(decide(None, command(CommandType.CREATE, {}, tenant_id="org-b"), NOW))

    assert first.record.referral.e_tag != second.record.referral.e_tag
    assert first.events[0].event_id != second.events[0].event_id


def test_the_creating_tenant_may_act_on_its_referral() -> None:
    stored = created(tenant_id=TENANT)

    result = applied(decide(stored, command(CommandType.ACCEPT, tenant_id=TENANT), NOW))

    assert result.record.tenant_id == TENANT
    assert result.record.referral.status is ReferralStatus.ACTIVE


def test_create_records_the_tenant_that_owns_the_referral() -> None:
    assert created(tenant_id=TENANT).tenant_id == TENANT


@pytest.mark.parametrize("kind", EVERY_COMMAND)
def test_a_command_declaring_another_tenant_than_its_topics_is_access_denied(
    kind: CommandType,
) -> None:
    stored = created(tenant_id=TENANT)
    forged = Command(
        type=kind,
        command_id="forged",
        referral_id=REFERRAL_ID,
        data=_valid_data_for(kind) if kind is not CommandType.CREATE else {},
        tenant_id="org-mallory",
        declared_tenant_id=TENANT,
    )

    decision = rejected(decide(stored, forged, NOW))

    assert decision.code is RejectionCode.ACCESS_DENIED
    assert decision.details == ()
    assert TENANT not in decision.message
    assert "org-mallory" not in decision.message


def test_a_command_declaring_the_tenant_it_was_established_as_is_decided_as_usual() -> None:
    stored = created(tenant_id=TENANT)
    accept = Command(
        type=CommandType.ACCEPT,
        command_id="c",
        referral_id=REFERRAL_ID,
        tenant_id=TENANT,
        declared_tenant_id=TENANT,
    )

    assert applied(decide(stored, accept, NOW)).record.referral.status is ReferralStatus.ACTIVE


# --- invalidRequest ------------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, "a referral", ["id", "x"], 42])
def test_a_create_whose_data_is_not_a_document_is_an_invalid_request(data: Any) -> None:
    decision = rejected(decide(None, command(CommandType.CREATE, data), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST


def test_a_create_with_a_malformed_field_is_an_invalid_request_naming_the_field() -> None:
    data = {"customerProfile": {"team": [{"firstName": "Ana", "email": "ana-at-contoso"}]}}

    decision = rejected(decide(None, command(CommandType.CREATE, data), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST
    assert [p.target for p in decision.details] == ["/customerProfile/team/0/email"]


@pytest.mark.parametrize("key", ["id", "ID"])
def test_a_create_whose_subject_and_document_name_different_referrals_is_invalid(
    key: str,
) -> None:
    data = {key: "another-referral", "name": "Contoso"}

    decision = rejected(decide(None, command(CommandType.CREATE, data), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST
    assert [p.target for p in decision.details] == ["/id"]


def test_a_replace_naming_another_referral_in_its_document_is_invalid() -> None:
    stored = created()
    data = {"id": "another-referral", "name": "x"}

    decision = decide(
        stored, command(CommandType.REPLACE, data, if_match=stored.referral.e_tag), NOW
    )

    assert rejected(decision).code is RejectionCode.INVALID_REQUEST


def test_a_patch_with_op_remove_is_an_invalid_request() -> None:
    stored = created({"name": "Contoso"})

    decision = rejected(
        decide(stored, command(CommandType.PATCH, [{"op": "remove", "path": "/name"}]), NOW)
    )

    assert decision.code is RejectionCode.INVALID_REQUEST
    assert [(p.target, p.code) for p in decision.details] == [("/0/op", "unsupportedOperation")]


@pytest.mark.parametrize(
    "path",
    [
        "/eTag",
        "/id",
        "/createdDateTime",
        "/version",
        "/updatedDateTime",
        "/acceptedDateTime",
        "/closedDateTime",
        "/ETag",
        "/ID",
        "/CreatedDateTime",
    ],
)
def test_a_patch_of_a_read_only_path_is_an_invalid_request(path: str) -> None:
    ops = [
        {"op": "replace", "path": "/name", "value": "x"},
        {"op": "add", "path": path, "value": 1},
    ]

    decision = rejected(decide(created({"name": "y"}), command(CommandType.PATCH, ops), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST
    assert [(p.target, p.code) for p in decision.details] == [("/1/path", "readOnly")]


@pytest.mark.parametrize(
    ("data", "target"),
    [
        ([], ""),
        ({"op": "add", "path": "/name", "value": "x"}, ""),
        (["add /name x"], "/0"),
        ([{"op": "add", "path": "/name"}], "/0/value"),
        ([{"op": "add", "path": "name", "value": "x"}], "/0/path"),
        ([{"op": "add", "path": "", "value": "x"}], "/0/path"),
        ([{"op": "replace", "path": "/statusReason", "value": "x"}], "/0/path"),
        ([{"op": "replace", "path": "/name/first", "value": "x"}], "/0/path"),
        ([{"op": "add", "path": "/team/7", "value": {"firstName": "x"}}], "/0/path"),
        ([{"op": "add", "path": "/team/next", "value": {"firstName": "x"}}], "/0/path"),
    ],
)
def test_a_malformed_patch_is_an_invalid_request_pointing_at_the_operation(
    data: Any, target: str
) -> None:
    stored = created({"name": "Contoso", "team": [{"firstName": "Ana"}]})

    decision = rejected(decide(stored, command(CommandType.PATCH, data), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST
    assert target in [p.target for p in decision.details]


def test_a_patch_whose_array_index_is_a_non_ascii_digit_is_an_invalid_request() -> None:
    # "²".isdigit() is true but int("²") raises: decide must refuse it, not raise.
    stored = created({"team": [{"firstName": "Ana"}]})
    ops = [{"op": "replace", "path": "/team/\u00b2", "value": {"firstName": "Bo"}}]

    decision = rejected(decide(stored, command(CommandType.PATCH, ops), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST
    assert [p.target for p in decision.details] == ["/0/path"]


def test_a_patch_making_the_document_invalid_is_an_invalid_request_naming_the_field() -> None:
    ops = [{"op": "add", "path": "/details/currency", "value": "ABC"}]

    decision = rejected(decide(created(), command(CommandType.PATCH, ops), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST
    assert [p.target for p in decision.details] == ["/details/currency"]


@pytest.mark.parametrize("data", [{"statusReason": 7}, {"reason": "x"}, ["x"], "lost to a rival"])
def test_a_named_move_with_data_other_than_a_status_reason_is_an_invalid_request(
    data: Any,
) -> None:
    decision = rejected(decide(created(), command(CommandType.LOSE, data), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST


# --- illegalTransition ---------------------------------------------------------------------


def test_accepting_a_won_referral_is_an_illegal_transition() -> None:
    decision = rejected(decide(created_in("Closed/Won"), command(CommandType.ACCEPT), NOW))

    assert decision.code is RejectionCode.ILLEGAL_TRANSITION
    assert "Closed/Won" in decision.message
    assert "Active/Accepted" in decision.message


def test_a_rejection_changes_nothing_that_was_passed_in() -> None:
    stored = created_in("Closed/Won")
    before = stored.referral.model_copy(deep=True)

    decide(stored, command(CommandType.PATCH, patch_ops(status="New", name="x")), NOW)

    assert stored.referral == before


# --- idempotent no-ops ---------------------------------------------------------------------


def test_accepting_an_accepted_referral_is_applied_with_no_events() -> None:
    stored = created_in("Active/Accepted")

    result = applied(decide(stored, command(CommandType.ACCEPT), LATER))

    assert result.events == ()
    assert result.record == stored
    assert result.record.referral.version == 1
    assert result.record.referral.e_tag == stored.referral.e_tag
    assert result.record.referral.updated_date_time == NOW


@pytest.mark.parametrize(
    "ops",
    [
        patch_ops(name="Contoso"),
        patch_ops(status="New"),
        patch_ops(status="New", substatus="Pending"),
        patch_ops(name="Contoso", status="new"),
        [{"op": "add", "path": "/details/dealValue", "value": "1500.00"}],
        [{"op": "add", "path": "/Details/DealValue", "value": 1500}],
        [{"op": "replace", "path": "/customerProfile/address/country", "value": "us"}],
    ],
)
def test_a_patch_setting_values_to_what_they_already_are_changes_nothing(
    ops: list[dict[str, Any]],
) -> None:
    stored = created(
        {
            "name": "Contoso",
            "details": {"dealValue": "1500", "currency": "USD"},
            "customerProfile": {"address": {"country": "US"}},
        }
    )

    result = applied(decide(stored, command(CommandType.PATCH, ops), LATER))

    assert result.events == ()
    assert result.record == stored


@pytest.mark.parametrize("path", ["/status", "/Substatus", "/STATUS"])
def test_a_patch_nulling_the_state_keeps_the_state_in_the_document(path: str) -> None:
    stored = created({"name": "Contoso"})
    ops = [{"op": "replace", "path": path, "value": None}, *patch_ops(name="Fabrikam")]

    result = applied(decide(stored, command(CommandType.PATCH, ops), LATER))

    document = result.record.referral.to_document()
    assert (document["status"], document["substatus"]) == ("New", "Pending")
    assert result.events[0].changed_paths == ("/name",)


def test_a_replace_with_the_current_document_changes_nothing() -> None:
    stored = created({"name": "Contoso", "details": {"dealValue": "10.5", "currency": "EUR"}})
    document = stored.referral.to_document()

    result = applied(
        decide(
            stored, command(CommandType.REPLACE, document, if_match=stored.referral.e_tag), LATER
        )
    )

    assert result.events == ()
    assert result.record == stored


# --- versions and eTags --------------------------------------------------------------------


def test_create_starts_at_version_one_and_each_event_adds_one() -> None:
    record, events = _run(
        None,
        command(CommandType.CREATE, {"name": "Contoso"}),
        command(CommandType.PATCH, patch_ops(name="Contoso EMEA")),
        command(CommandType.ACCEPT),
        command(CommandType.ACCEPT),  # no-op
        command(CommandType.WIN, {"statusReason": "signed"}),
        command(CommandType.LOSE),
    )

    assert [event.version for event in events] == [1, 2, 3, 4, 5]
    assert record.referral.version == record.version == 5
    assert [event.type for event in events] == [
        EventType.CREATED,
        EventType.UPDATED,
        EventType.ACCEPTED,
        EventType.WON,
        EventType.LOST,
    ]


def test_the_etag_is_a_quoted_string_that_changes_on_every_change() -> None:
    _, events = _run(
        None,
        command(CommandType.CREATE, {"name": "Contoso"}),
        command(CommandType.PATCH, patch_ops(name="Contoso EMEA")),
        command(CommandType.PATCH, patch_ops(name="Contoso")),
        command(CommandType.DECLINE),
    )
    etags = [event.etag for event in events]

    assert all(QUOTED.match(etag) for etag in etags)
    assert len(set(etags)) == len(etags)
    assert events[-1].referral.e_tag == etags[-1]


def test_updated_date_time_is_the_time_of_the_latest_change() -> None:
    stored = created({"name": "Contoso"})

    result = applied(decide(stored, command(CommandType.PATCH, patch_ops(name="x")), LATER))

    assert result.record.referral.created_date_time == NOW
    assert result.record.referral.updated_date_time == LATER


# --- event contents ------------------------------------------------------------------------


def test_a_lifecycle_event_carries_everything_a_subscriber_needs() -> None:
    stored = created({"name": "Contoso"})
    move = command(
        CommandType.LOSE,
        {"statusReason": "Customer chose another partner"},
        command_id="cmd-lose-1",
        correlation_id="corr-42",
    )

    result = applied(decide(stored, move, LATER))

    (event,) = result.events
    assert event.type is EventType.LOST
    assert event.referral_id == REFERRAL_ID
    assert event.version == 2
    assert event.etag == result.record.referral.e_tag
    assert event.etag != stored.referral.e_tag
    assert (event.previous_status, event.previous_substatus) == (
        ReferralStatus.NEW,
        ReferralSubstatus.PENDING,
    )
    assert (event.status, event.substatus) == (ReferralStatus.CLOSED, ReferralSubstatus.LOST)
    assert set(event.changed_paths) == {"/status", "/substatus", "/statusReason", "/closedDateTime"}
    assert event.command_id == "cmd-lose-1"
    assert event.correlation_id == "corr-42"
    assert event.time == LATER
    assert event.referral == result.record.referral
    assert event.referral.status_reason == "Customer chose another partner"
    uuid.UUID(event.event_id)


def test_changed_paths_are_json_pointers_to_the_leaves_that_changed() -> None:
    stored = created({"details": {"dealValue": "10", "currency": "USD"}, "odd/key~name": 1})
    ops = [
        {"op": "replace", "path": "/details/dealValue", "value": "12.5"},
        {"op": "replace", "path": "/odd~1key~0name", "value": 2},
        {"op": "add", "path": "/customerProfile/address/city", "value": "Redmond"},
    ]

    (event,) = applied(decide(stored, command(CommandType.PATCH, ops), NOW)).events

    assert set(event.changed_paths) == {"/details/dealValue", "/odd~1key~0name", "/customerProfile"}
    assert event.type is EventType.UPDATED
    assert event.referral.details is not None
    assert event.referral.details.deal_value == Decimal("12.5")


def test_the_created_event_lists_the_fields_of_the_new_referral_but_no_bookkeeping() -> None:
    result = applied(decide(None, command(CommandType.CREATE, {"name": "Contoso"}), NOW))

    (event,) = result.events
    assert event.type is EventType.CREATED
    assert event.version == 1
    assert {"/id", "/name", "/status", "/substatus", "/createdDateTime"} <= set(event.changed_paths)
    assert not {"/eTag", "/version", "/updatedDateTime"} & set(event.changed_paths)
    assert event.referral == result.record.referral
    assert QUOTED.match(event.etag)


def test_a_status_reason_on_a_named_move_is_recorded() -> None:
    result = applied(
        decide(created(), command(CommandType.DECLINE, {"statusReason": "no fit"}), NOW)
    )

    assert result.record.referral.status_reason == "no fit"
    assert result.record.referral.to_document()["statusReason"] == "no fit"


def test_unknown_fields_survive_commands_that_do_not_touch_them() -> None:
    stored = created({"name": "Contoso", "trackingInfo": {"campaign": "FY26"}, "Source": "web"})

    record, _ = _run(
        stored,
        command(CommandType.ACCEPT),
        command(CommandType.PATCH, patch_ops(name="Contoso Ltd")),
        command(CommandType.WIN),
    )

    document = record.referral.to_document()
    assert document["trackingInfo"] == {"campaign": "FY26"}
    assert document["Source"] == "web"


# --- determinism ---------------------------------------------------------------------------


def _history() -> list[Command]:
    return [
        command(CommandType.CREATE, {"name": "Contoso"}, command_id="c1"),
        command(CommandType.PATCH, patch_ops(substatus="Received"), command_id="c2"),
        command(CommandType.ACCEPT, command_id="c3", correlation_id="flow-1"),
        command(CommandType.WIN, {"statusReason": "signed"}, command_id="c4"),
    ]


def test_the_same_commands_at_the_same_times_give_identical_events() -> None:
    first_record, first = _run(None, *_history())
    second_record, second = _run(None, *_history())

    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert [e.etag for e in first] == [e.etag for e in second]
    assert first == second
    assert first_record == second_record


def test_event_ids_are_unique_across_versions_and_referrals() -> None:
    _, events = _run(None, *_history())
    _, other = _run(
        None, command(CommandType.CREATE, {"name": "Fabrikam"}, referral_id="another-referral")
    )

    ids = [e.event_id for e in [*events, *other]]
    etags = [e.etag for e in [*events, *other]]
    assert len(set(ids)) == len(ids)
    assert len(set(etags)) == len(etags)


def test_a_create_without_subject_or_id_gets_an_id_derived_from_the_command() -> None:
    def create() -> str:
        cmd = command(CommandType.CREATE, {"name": "Contoso"}, referral_id=None, command_id="c-9")
        referral_id = applied(decide(None, cmd, NOW)).record.referral.id
        assert referral_id is not None
        return referral_id

    assert create() == create()
    uuid.UUID(create())


@pytest.mark.parametrize("key", ["id", "ID"])
def test_a_create_without_subject_takes_the_id_from_the_document(key: str) -> None:
    cmd = command(CommandType.CREATE, {key: "from-document"}, referral_id=None)

    result = applied(decide(None, cmd, NOW))

    assert result.record.referral.id == "from-document"
    assert result.events[0].referral_id == "from-document"


# --- replace -------------------------------------------------------------------------------


def test_replace_keeps_the_service_owned_fields_of_the_stored_referral() -> None:
    stored, _ = _run(
        None, command(CommandType.CREATE, {"name": "Contoso"}), command(CommandType.ACCEPT)
    )
    document = {
        "id": REFERRAL_ID,
        "name": "Contoso Ltd",
        "createdDateTime": "2001-01-01T00:00:00Z",
        "acceptedDateTime": "2001-01-02T00:00:00Z",
        "updatedDateTime": "2001-01-03T00:00:00Z",
        "eTag": '"forged"',
        "version": 99,
    }

    result = applied(
        decide(
            stored, command(CommandType.REPLACE, document, if_match=stored.referral.e_tag), LATER
        )
    )

    referral = result.record.referral
    assert referral.id == REFERRAL_ID
    assert referral.created_date_time == NOW
    assert referral.accepted_date_time == NOW
    assert referral.updated_date_time == LATER
    assert referral.version == 3
    assert referral.e_tag != '"forged"'
    assert referral.name == "Contoso Ltd"
    changed = set(result.events[0].changed_paths)
    assert "/name" in changed
    assert not changed & {"/id", "/createdDateTime", "/acceptedDateTime", "/eTag", "/version"}


def test_replace_without_status_keeps_the_current_state() -> None:
    stored = created_in("Active/Accepted")

    result = applied(
        decide(
            stored,
            command(CommandType.REPLACE, {"name": "renamed"}, if_match=stored.referral.e_tag),
            NOW,
        )
    )

    assert (result.record.referral.status, result.record.referral.substatus) == (
        ReferralStatus.ACTIVE,
        ReferralSubstatus.ACCEPTED,
    )
    assert result.events[0].type is EventType.UPDATED


def test_replace_may_move_the_referral_through_the_machine() -> None:
    stored = created_in("Active/Accepted")
    document = {"name": "renamed", "status": "Closed", "substatus": "Won"}

    result = applied(
        decide(
            stored, command(CommandType.REPLACE, document, if_match=stored.referral.e_tag), LATER
        )
    )

    assert result.events[0].type is EventType.WON
    assert result.record.referral.closed_date_time == LATER


def test_replace_cannot_reopen_a_closed_referral() -> None:
    stored = created_in("Closed/Lost")
    document = {"status": "Active", "substatus": "Accepted"}

    decision = decide(
        stored, command(CommandType.REPLACE, document, if_match=stored.referral.e_tag), NOW
    )

    assert rejected(decision).code is RejectionCode.ILLEGAL_TRANSITION


# --- expiry --------------------------------------------------------------------------------


def test_a_create_without_expiration_expires_after_the_default_fourteen_days() -> None:
    record = created({"name": "Contoso"})

    assert record.referral.expiration_date_time == NOW + timedelta(days=14)
    assert Policy().default_expiry == timedelta(days=14)


def test_the_default_expiry_is_a_policy_setting() -> None:
    policy = Policy(default_expiry=timedelta(days=30))

    result = applied(decide(None, command(CommandType.CREATE, {"name": "x"}), NOW, policy))

    assert result.record.referral.expiration_date_time == NOW + timedelta(days=30)


def test_a_create_with_an_expiration_keeps_it() -> None:
    record = created({"expirationDateTime": "2026-04-01T00:00:00Z"})

    assert record.referral.to_document()["expirationDateTime"] == "2026-04-01T00:00:00.0000000Z"


def test_a_replace_without_an_expiration_keeps_the_stored_one() -> None:
    record = created({"name": "before", "expirationDateTime": "2026-04-01T00:00:00Z"})

    replaced = applied(
        decide(record, command(CommandType.REPLACE, {"name": "after"}, if_match="*"), LATER)
    ).record

    assert replaced.referral.name == "after"
    assert replaced.referral.expiration_date_time == record.referral.expiration_date_time


@pytest.mark.parametrize("path", ["/team/01", "/team/-1", "/"])
def test_a_patch_path_that_is_no_canonical_pointer_is_an_invalid_request(path: str) -> None:
    record = created({"team": [{"firstName": "A"}, {"firstName": "B"}]})

    refusal = rejected(
        decide(
            record,
            command(CommandType.PATCH, [{"op": "replace", "path": path, "value": {}}]),
            LATER,
        )
    )

    assert refusal.code is RejectionCode.INVALID_REQUEST
    assert refusal.details[0].target == "/0/path"


def test_bad_data_on_a_move_is_refused_even_when_the_move_would_change_nothing() -> None:
    record = created_in("Active/Accepted")

    refusal = rejected(decide(record, command(CommandType.ACCEPT, {"statusReason": 7}), LATER))

    assert refusal.code is RejectionCode.INVALID_REQUEST
