"""Properties of the decision over arbitrary command sequences (hypothesis).

Random creates, patches, replaces and named moves, in any order, over a few referral ids,
with fresh, stale or missing eTags and right or wrong tenants. Whatever happens:

- ``decide`` returns a decision and never raises, and never alters the record it is given;
- every stored referral is in one of the seven legal states;
- nothing leaves Closed, and Active never goes back to New;
- an applied change emits exactly one event and raises the version by exactly one;
- a no-op emits nothing and changes nothing;
- the same commands at the same times give the same events;
- the document derived along a change is, byte for byte, the referral's full serialization.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.jsonio import dumps
from state import (
    Applied,
    Command,
    CommandType,
    EventType,
    ReferralEvent,
    ReferralRecord,
    ReferralStatus,
    ReferralSubstatus,
    Rejected,
    decide,
)
from state.identity import name_uuid
from state.stamping import changed_paths
from tests.support.builders import LEGAL_STATE_NAMES, NOW, state_name

REFERRAL_IDS = ("ref-1", "ref-2")
OWNERS = ("org-a", None)
TENANTS = (*("org-a",) * 8, "org-b", None)

# Mostly valid values, with a few wrong ones so that rejections are exercised too.
STATUSES = ("New", "Active", "Closed", "New", "Active", "Closed", "closed", "None", "Open")
SUBSTATUSES = (
    *("Pending", "Received", "Accepted", "Won", "Lost", "Declined", "Expired"),
    *("Received", "Accepted", "Won", "Lost", "won", "None"),
)
# The event a move into each state emits, written from the design: Pending has none of its own.
ARRIVAL = {
    "New/Pending": EventType.UPDATED,
    "New/Received": EventType.RECEIVED,
    "Active/Accepted": EventType.ACCEPTED,
    "Closed/Won": EventType.WON,
    "Closed/Lost": EventType.LOST,
    "Closed/Declined": EventType.DECLINED,
    "Closed/Expired": EventType.EXPIRED,
}
MOVES = (
    CommandType.ACCEPT,
    CommandType.DECLINE,
    CommandType.WIN,
    CommandType.LOSE,
    CommandType.EXPIRE,
)
COMMAND_MIX = (
    *(CommandType.PATCH,) * 4,
    *(CommandType.REPLACE,) * 2,
    *MOVES,
    *MOVES,
    CommandType.CREATE,
)

names = st.sampled_from(["Contoso", "Fabrikam", "Tailspin", ""])
deal_values = st.one_of(
    st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, "1234567.89", 0, "-1", "lots"]),
)
members = st.fixed_dictionaries(
    {"firstName": names},
    optional={"email": st.sampled_from(["ana@contoso.com", "bo@fabrikam.example", "not-an-email"])},
)

document_fields: dict[str, st.SearchStrategy[Any]] = {
    "status": st.sampled_from(STATUSES),
    "substatus": st.sampled_from(SUBSTATUSES),
    "name": names,
    "statusReason": st.sampled_from(["", "budget cut", "signed"]),
    "details": st.fixed_dictionaries(
        {},
        optional={
            "dealValue": deal_values,
            "currency": st.sampled_from(["USD", "eur", "JPY", "ABC"]),
            "closingDateTime": st.sampled_from(
                ["2026-06-30T00:00:00Z", "2026-06-30T00:00:00.5Z", "2026-06-30T00:00:00"]
            ),
        },
    ),
    "customerProfile": st.fixed_dictionaries(
        {},
        optional={
            "address": st.fixed_dictionaries({"country": st.sampled_from(["US", "fr", "XX"])})
        },
    ),
    "team": st.lists(members, max_size=3),
    "expirationDateTime": st.sampled_from(["2026-03-20T00:00:00Z", "2026-03-20T00:00:00.1234567Z"]),
    "trackingInfo": st.fixed_dictionaries({"wave": st.integers(0, 3)}),
}
documents = st.fixed_dictionaries({}, optional=document_fields)
starting_documents = st.builds(
    lambda state, team, rest: {**rest, "status": state[0], "substatus": state[1], "team": team},
    st.sampled_from([tuple(name.split("/")) for name in LEGAL_STATE_NAMES]),
    st.lists(st.fixed_dictionaries({"firstName": names}), max_size=2),
    st.fixed_dictionaries({}, optional={"name": names, "trackingInfo": st.just({"wave": 0})}),
)

# Array positions, including ones a pointer parser may trip over: digits that are not
# ASCII ("²", "٣"), leading zeros, "-" and words.
array_indexes = st.one_of(
    st.sampled_from(["0", "1", "-", "01", "x", "", "\u00b2", "\u0663", "\u00bd"]),
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=2),
)
patch_targets = st.one_of(
    st.tuples(st.sampled_from(["/status", "/Status"]), st.sampled_from(STATUSES)),
    st.tuples(st.sampled_from(["/substatus", "/SubStatus"]), st.sampled_from(SUBSTATUSES)),
    st.tuples(st.just("/name"), names),
    st.tuples(st.just("/statusReason"), st.sampled_from(["lost to a rival", None])),
    st.tuples(st.just("/details/dealValue"), deal_values),
    st.tuples(st.just("/customerProfile/address/country"), st.sampled_from(["US", "de", "XX"])),
    st.tuples(st.just("/trackingInfo/wave"), st.integers(0, 3)),
    st.tuples(st.builds("/team/{}".format, array_indexes), members),
    st.tuples(st.builds("/team/{}/firstName".format, array_indexes), names),
    st.tuples(st.sampled_from(["/eTag", "/version", "/id", "/createdDateTime"]), names),
)
patch_operations = st.builds(
    lambda op, target: {"op": op, "path": target[0], "value": target[1]},
    st.sampled_from(["add", "add", "add", "replace", "replace", "remove"]),
    patch_targets,
)
move_data = st.one_of(
    st.none(),
    st.none(),
    st.fixed_dictionaries({"statusReason": st.sampled_from(["why not", ""])}),
    st.just(7),
)


@dataclass(frozen=True)
class Step:
    kind: CommandType
    referral_id: str
    data: Any
    if_match: str | None  # "current" and "stale" are resolved against the stored referral
    tenant_id: str | None
    minutes_later: int


def _data_for(kind: CommandType) -> st.SearchStrategy[Any]:
    if kind in (CommandType.CREATE, CommandType.REPLACE):
        return documents
    if kind is CommandType.PATCH:
        return st.lists(patch_operations, min_size=1, max_size=2)
    return move_data


def _if_match_for(kind: CommandType) -> st.SearchStrategy[str | None]:
    if kind is CommandType.REPLACE:
        return st.sampled_from(["current", "current", "current", "*", "stale", None])
    return st.sampled_from([*(None,) * 4, "current", "current", "stale", "*"])


steps = st.sampled_from(COMMAND_MIX).flatmap(
    lambda kind: st.builds(
        Step,
        kind=st.just(kind),
        referral_id=st.sampled_from(REFERRAL_IDS),
        data=_data_for(kind),
        if_match=_if_match_for(kind),
        tenant_id=st.sampled_from(TENANTS),
        minutes_later=st.integers(0, 60 * 24 * 20),
    )
)


def _command(step: Step, index: int, stored: ReferralRecord | None) -> Command:
    if_match = step.if_match
    if if_match == "current":
        if_match = stored.referral.e_tag if stored else '"none"'
    elif if_match == "stale":
        if_match = '"0000stale0000"'
    return Command(
        type=step.kind,
        command_id=f"cmd-{index}",
        referral_id=step.referral_id,
        data=step.data,
        if_match=if_match,
        correlation_id=f"flow-{index % 3}",
        tenant_id=step.tenant_id,
    )


def _check_applied(
    before: ReferralRecord | None, result: Applied, referral_id: str, now: datetime
) -> None:
    after = result.record
    assert state_name(after) in LEGAL_STATE_NAMES
    assert after.referral.id == referral_id
    if before is None:
        (event,) = result.events
        assert event.type is EventType.CREATED
        assert event.version == after.version == 1
        return
    if not result.events:
        assert after == before
        return
    (event,) = result.events
    assert event.version == after.version == before.version + 1
    assert event.etag == after.referral.e_tag != before.referral.e_tag
    assert event.referral == after.referral
    assert event.changed_paths
    assert all(path.startswith("/") for path in event.changed_paths)
    # Exactly what differs between the stored documents (the event's order is the change's).
    whole = changed_paths(before.referral.to_document(), after.referral.to_document())
    assert sorted(event.changed_paths) == sorted(whole)
    assert (event.previous_status, event.previous_substatus) == (
        before.referral.status,
        before.referral.substatus,
    )
    assert after.referral.created_date_time == before.referral.created_date_time
    assert after.tenant_id == before.tenant_id
    _check_move(before, after, event, now)


def _check_move(
    before: ReferralRecord, after: ReferralRecord, event: ReferralEvent, now: datetime
) -> None:
    old, new = before.referral, after.referral
    if old.status is ReferralStatus.CLOSED:
        assert new.status is ReferralStatus.CLOSED, "nothing leaves Closed"
        assert new.closed_date_time == old.closed_date_time
    if old.status is ReferralStatus.ACTIVE:
        assert new.status is not ReferralStatus.NEW, "Active never goes back to New"
    if state_name(before) == state_name(after):
        assert event.type is EventType.UPDATED
    else:
        assert event.type is ARRIVAL[state_name(after)]
    if new.status is ReferralStatus.ACTIVE and old.status is not ReferralStatus.ACTIVE:
        assert new.accepted_date_time == now
    if new.status is ReferralStatus.CLOSED and old.status is not ReferralStatus.CLOSED:
        assert new.closed_date_time == now
    if new.substatus in (ReferralSubstatus.PENDING, ReferralSubstatus.RECEIVED):
        assert new.status is ReferralStatus.NEW


def _play(history: list[Step]) -> list[ReferralEvent]:
    store: dict[tuple[str | None, str], ReferralRecord] = {}
    emitted: list[ReferralEvent] = []
    now = NOW
    for index, step in enumerate(history):
        now += timedelta(minutes=step.minutes_later)
        key = (step.tenant_id, step.referral_id)
        before = store.get(key)
        snapshot = before.referral.model_copy(deep=True) if before else None

        decision = decide(before, _command(step, index, before), now)

        assert isinstance(decision, Applied | Rejected)
        if before is not None:
            assert before.referral == snapshot, "decide must not alter the record it is given"
        if isinstance(decision, Applied):
            _check_applied(before, decision, step.referral_id, now)
            referral = decision.record.referral
            assert dumps(referral.to_document()) == dumps(referral.model_copy()._serialized())
            store[key] = decision.record
            emitted += decision.events
    for record in store.values():
        assert state_name(record) in LEGAL_STATE_NAMES
    return emitted


def _creation(referral_id: str) -> st.SearchStrategy[Step]:
    return st.builds(
        Step,
        kind=st.just(CommandType.CREATE),
        referral_id=st.just(referral_id),
        data=starting_documents,
        if_match=st.none(),
        tenant_id=st.sampled_from(OWNERS),
        minutes_later=st.just(0),
    )


histories = st.builds(
    lambda creations, rest: [*creations, *rest],
    st.tuples(*(_creation(referral_id) for referral_id in REFERRAL_IDS)),
    st.lists(steps, min_size=1, max_size=30),
)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(histories)
def test_any_command_sequence_keeps_every_referral_in_a_legal_state(history: list[Step]) -> None:
    _play(history)


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(histories)
def test_replaying_the_same_commands_gives_the_same_events(history: list[Step]) -> None:
    assert _play(history) == _play(history)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    source=st.sampled_from(LEGAL_STATE_NAMES),
    moves=st.lists(st.sampled_from(MOVES), min_size=1, max_size=8),
)
def test_named_moves_alone_never_leave_closed_nor_return_to_new(
    source: str, moves: list[CommandType]
) -> None:
    status, substatus = source.split("/")
    history = [
        Step(CommandType.CREATE, "ref-1", {"status": status, "substatus": substatus}, None, None, 0)
    ]
    history += [Step(kind, "ref-1", None, None, None, 1) for kind in moves]

    events = _play(history)

    assert [event.version for event in events] == list(range(1, len(events) + 1))


field_targets = st.one_of(
    st.tuples(st.just("/status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("/substatus"), st.sampled_from(SUBSTATUSES)),
    st.tuples(st.just("/name"), names),
    st.tuples(st.just("/statusReason"), st.sampled_from(["lost to a rival", None])),
    st.tuples(st.just("/details/dealValue"), deal_values),
    st.tuples(st.just("/customerProfile/address/country"), st.sampled_from(["US", "de", "XX"])),
    st.tuples(st.just("/trackingInfo/wave"), st.integers(0, 3)),
)
field_patches = st.lists(
    st.builds(
        lambda op, target: {"op": op, "path": target[0], "value": target[1]},
        st.sampled_from(["add", "replace"]),
        field_targets,
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(start=starting_documents, ops=field_patches)
def test_a_patch_of_fields_applied_twice_changes_nothing_the_second_time(
    start: dict[str, Any], ops: list[dict[str, Any]]
) -> None:
    # Setting fields (not inserting into arrays) is idempotent: once applied, the
    # referral already holds what the patch asks for.
    stored = _play_one(None, Command(type=CommandType.CREATE, command_id="c", data=start))
    assert stored is not None
    patch = Command(
        type=CommandType.PATCH, command_id="p", referral_id=stored.referral_id, data=ops
    )

    first = decide(stored, patch, NOW)

    if isinstance(first, Applied):
        second = decide(first.record, patch, NOW + timedelta(minutes=1))
        assert isinstance(second, Applied), second
        assert second.events == ()
        assert second.record == first.record


def _play_one(before: ReferralRecord | None, command: Command) -> ReferralRecord | None:
    decision = decide(before, command, NOW)
    return decision.record if isinstance(decision, Applied) else None


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.uuids(), st.text())
def test_derived_ids_are_the_standard_name_based_uuids(namespace: uuid.UUID, name: str) -> None:
    # Event, referral and rejection ids are uuid5: a subscriber may derive them itself.
    assert name_uuid(namespace, name) == str(uuid.uuid5(namespace, name))
