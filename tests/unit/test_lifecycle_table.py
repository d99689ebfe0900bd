"""The Status/Substatus rules, checked over every (state, command) pair.

The expected outcomes below are written out by hand from the seed's table, not derived
from ``state.lifecycle``:

    Status  may move to           substatus allowed with it
    New     New, Active, Closed   Pending, Received
    Active  Active, Closed        Accepted
    Closed  Closed                Won, Lost, Declined, Expired

A move is legal when the new status is in the old status's list and the new substatus
belongs to the new status; asking for the current state is a no-op that emits nothing.
"""

from dataclasses import dataclass

import pytest

from state import (
    INITIAL_STATE,
    LEGAL_STATES,
    Command,
    CommandType,
    EventType,
    ReferralStatus,
    ReferralSubstatus,
    RejectionCode,
    decide,
)
from state.lifecycle import RULEBOOK
from tests.support.builders import (
    LATER,
    LEGAL_STATE_NAMES,
    NOW,
    applied,
    command,
    created,
    created_in,
    patch_ops,
    rejected,
    split_state,
    state_name,
)

NO_OP = "no-op"
ILLEGAL = "illegalTransition"

# source state      command                 outcome            event
EXPECTED_TABLE = """
New/Pending       accept                  Active/Accepted    referral.accepted
New/Pending       decline                 Closed/Declined    referral.declined
New/Pending       win                     Closed/Won         referral.won
New/Pending       lose                    Closed/Lost        referral.lost
New/Pending       expire                  Closed/Expired     referral.expired
New/Pending       patch:New/Pending       no-op              -
New/Pending       patch:New/Received      New/Received       referral.received
New/Pending       patch:Active/Accepted   Active/Accepted    referral.accepted
New/Pending       patch:Closed/Won        Closed/Won         referral.won
New/Pending       patch:Closed/Lost       Closed/Lost        referral.lost
New/Pending       patch:Closed/Declined   Closed/Declined    referral.declined
New/Pending       patch:Closed/Expired    Closed/Expired     referral.expired

New/Received      accept                  Active/Accepted    referral.accepted
New/Received      decline                 Closed/Declined    referral.declined
New/Received      win                     Closed/Won         referral.won
New/Received      lose                    Closed/Lost        referral.lost
New/Received      expire                  Closed/Expired     referral.expired
New/Received      patch:New/Pending       New/Pending        referral.updated
New/Received      patch:New/Received      no-op              -
New/Received      patch:Active/Accepted   Active/Accepted    referral.accepted
New/Received      patch:Closed/Won        Closed/Won         referral.won
New/Received      patch:Closed/Lost       Closed/Lost        referral.lost
New/Received      patch:Closed/Declined   Closed/Declined    referral.declined
New/Received      patch:Closed/Expired    Closed/Expired     referral.expired

Active/Accepted   accept                  no-op              -
Active/Accepted   decline                 Closed/Declined    referral.declined
Active/Accepted   win                     Closed/Won         referral.won
Active/Accepted   lose                    Closed/Lost        referral.lost
Active/Accepted   expire                  Closed/Expired     referral.expired
Active/Accepted   patch:New/Pending       illegalTransition  -
Active/Accepted   patch:New/Received      illegalTransition  -
Active/Accepted   patch:Active/Accepted   no-op              -
Active/Accepted   patch:Closed/Won        Closed/Won         referral.won
Active/Accepted   patch:Closed/Lost       Closed/Lost        referral.lost
Active/Accepted   patch:Closed/Declined   Closed/Declined    referral.declined
Active/Accepted   patch:Closed/Expired    Closed/Expired     referral.expired

Closed/Won        accept                  illegalTransition  -
Closed/Won        decline                 Closed/Declined    referral.declined
Closed/Won        win                     no-op              -
Closed/Won        lose                    Closed/Lost        referral.lost
Closed/Won        expire                  Closed/Expired     referral.expired
Closed/Won        patch:New/Pending       illegalTransition  -
Closed/Won        patch:New/Received      illegalTransition  -
Closed/Won        patch:Active/Accepted   illegalTransition  -
Closed/Won        patch:Closed/Won        no-op              -
Closed/Won        patch:Closed/Lost       Closed/Lost        referral.lost
Closed/Won        patch:Closed/Declined   Closed/Declined    referral.declined
Closed/Won        patch:Closed/Expired    Closed/Expired     referral.expired

Closed/Lost       accept                  illegalTransition  -
Closed/Lost       decline                 Closed/Declined    referral.declined
Closed/Lost       win                     Closed/Won         referral.won
Closed/Lost       lose                    no-op              -
Closed/Lost       expire                  Closed/Expired     referral.expired
Closed/Lost       patch:New/Pending       illegalTransition  -
Closed/Lost       patch:New/Received      illegalTransition  -
Closed/Lost       patch:Active/Accepted   illegalTransition  -
Closed/Lost       patch:Closed/Won        Closed/Won         referral.won
Closed/Lost       patch:Closed/Lost       no-op              -
Closed/Lost       patch:Closed/Declined   Closed/Declined    referral.declined
Closed/Lost       patch:Closed/Expired    Closed/Expired     referral.expired

Closed/Declined   accept                  illegalTransition  -
Closed/Declined   decline                 no-op              -
Closed/Declined   win                     Closed/Won         referral.won
Closed/Declined   lose                    Closed/Lost        referral.lost
Closed/Declined   expire                  Closed/Expired     referral.expired
Closed/Declined   patch:New/Pending       illegalTransition  -
Closed/Declined   patch:New/Received      illegalTransition  -
Closed/Declined   patch:Active/Accepted   illegalTransition  -
Closed/Declined   patch:Closed/Won        Closed/Won         referral.won
Closed/Declined   patch:Closed/Lost       Closed/Lost        referral.lost
Closed/Declined   patch:Closed/Declined   no-op              -
Closed/Declined   patch:Closed/Expired    Closed/Expired     referral.expired

Closed/Expired    accept                  illegalTransition  -
Closed/Expired    decline                 Closed/Declined    referral.declined
Closed/Expired    win                     Closed/Won         referral.won
Closed/Expired    lose                    Closed/Lost        referral.lost
Closed/Expired    expire                  no-op              -
Closed/Expired    patch:New/Pending       illegalTransition  -
Closed/Expired    patch:New/Received      illegalTransition  -
Closed/Expired    patch:Active/Accepted   illegalTransition  -
Closed/Expired    patch:Closed/Won        Closed/Won         referral.won
Closed/Expired    patch:Closed/Lost       Closed/Lost        referral.lost
Closed/Expired    patch:Closed/Declined   Closed/Declined    referral.declined
Closed/Expired    patch:Closed/Expired    no-op              -
"""

NAMED_MOVES = {
    "accept": CommandType.ACCEPT,
    "decline": CommandType.DECLINE,
    "win": CommandType.WIN,
    "lose": CommandType.LOSE,
    "expire": CommandType.EXPIRE,
}
COMMANDS = (*NAMED_MOVES, *(f"patch:{state}" for state in LEGAL_STATE_NAMES))


@dataclass(frozen=True)
class Row:
    source: str
    command: str
    outcome: str
    event: str | None

    def __str__(self) -> str:
        return f"{self.source} --{self.command}--> {self.outcome}"


def _rows() -> list[Row]:
    rows = []
    for line in EXPECTED_TABLE.strip().splitlines():
        if line.strip():
            source, name, outcome, event = line.split()
            rows.append(Row(source, name, outcome, None if event == "-" else event))
    return rows


ROWS = _rows()


def _command_for(row: Row, if_match: str | None = None) -> Command:
    if row.command in NAMED_MOVES:
        return command(NAMED_MOVES[row.command], command_id=f"cmd-{row}", if_match=if_match)
    status, substatus = split_state(row.command.removeprefix("patch:"))
    return command(
        CommandType.PATCH,
        patch_ops(status=status, substatus=substatus),
        command_id=f"cmd-{row}",
        if_match=if_match,
    )


def test_the_expected_table_covers_every_state_and_command_exactly_once() -> None:
    pairs = [(row.source, row.command) for row in ROWS]
    assert len(pairs) == len(set(pairs))
    assert set(pairs) == {(state, name) for state in LEGAL_STATE_NAMES for name in COMMANDS}


def test_the_domain_knows_exactly_the_seven_legal_states() -> None:
    assert {str(state) for state in LEGAL_STATES} == set(LEGAL_STATE_NAMES)
    assert str(INITIAL_STATE) == "New/Pending"


def test_the_shared_machine_has_no_automatic_to_state_triggers() -> None:
    assert not [name for name in RULEBOOK.events if name.startswith("to_")]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_every_state_and_command_pair_has_the_outcome_of_the_seed_table(row: Row) -> None:
    stored = created_in(row.source)

    decision = decide(stored, _command_for(row), LATER)

    if row.outcome == ILLEGAL:
        assert rejected(decision).code is RejectionCode.ILLEGAL_TRANSITION
    elif row.outcome == NO_OP:
        result = applied(decision)
        assert result.events == ()
        assert result.record == stored
    else:
        result = applied(decision)
        (event,) = result.events
        assert state_name(result.record) == row.outcome
        assert event.type == row.event
        assert f"{event.status}/{event.substatus}" == row.outcome
        assert f"{event.previous_status}/{event.previous_substatus}" == row.source
        assert event.version == stored.version + 1 == result.record.version


@pytest.mark.parametrize("row", [row for row in ROWS if row.outcome == ILLEGAL], ids=str)
def test_an_illegal_move_names_both_states_in_its_message(row: Row) -> None:
    decision = rejected(decide(created_in(row.source), _command_for(row), LATER))

    assert row.source in decision.message


@pytest.mark.parametrize("state", LEGAL_STATE_NAMES)
def test_create_may_start_a_referral_in_any_legal_state(state: str) -> None:
    status, substatus = split_state(state)

    result = applied(
        decide(None, command(CommandType.CREATE, {"status": status, "substatus": substatus}), NOW)
    )

    assert state_name(result.record) == state
    (event,) = result.events
    assert event.type is EventType.CREATED
    assert (event.previous_status, event.previous_substatus) == (None, None)


def test_create_without_status_starts_new_pending() -> None:
    record = created({"name": "Contoso migration"})

    assert state_name(record) == "New/Pending"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"status": "Active"}, "Active/Accepted"),
        ({"status": "New"}, "New/Pending"),
        ({"substatus": "Won"}, "Closed/Won"),
        ({"substatus": "Received"}, "New/Received"),
        ({"status": "closed", "substatus": "lost"}, "Closed/Lost"),
    ],
)
def test_create_fills_in_the_half_of_the_state_that_is_implied(
    data: dict[str, str], expected: str
) -> None:
    assert state_name(created(data)) == expected


@pytest.mark.parametrize(
    ("data", "target"),
    [
        ({"status": "Closed", "substatus": "Accepted"}, "/substatus"),
        ({"status": "New", "substatus": "Won"}, "/substatus"),
        ({"status": "Active", "substatus": "Pending"}, "/substatus"),
        ({"status": "Closed"}, "/substatus"),
        ({"status": "None"}, "/status"),
        ({"status": "None", "substatus": "None"}, "/status"),
        ({"substatus": "None"}, "/status"),
    ],
)
def test_create_in_a_pair_that_is_not_a_lifecycle_state_is_an_invalid_request(
    data: dict[str, str], target: str
) -> None:
    decision = rejected(decide(None, command(CommandType.CREATE, data), NOW))

    assert decision.code is RejectionCode.INVALID_REQUEST
    assert [problem.target for problem in decision.details] == [target]


def test_patching_only_status_active_on_new_pending_infers_accepted() -> None:
    result = applied(decide(created(), command(CommandType.PATCH, patch_ops(status="Active")), NOW))

    assert state_name(result.record) == "Active/Accepted"
    assert result.events[0].type is EventType.ACCEPTED


def test_patching_only_substatus_won_infers_closed() -> None:
    stored = created_in("Active/Accepted")

    result = applied(decide(stored, command(CommandType.PATCH, patch_ops(substatus="Won")), NOW))

    assert state_name(result.record) == "Closed/Won"
    assert result.events[0].type is EventType.WON


def test_patching_only_substatus_received_stays_new() -> None:
    result = applied(
        decide(created(), command(CommandType.PATCH, patch_ops(substatus="Received")), NOW)
    )

    assert state_name(result.record) == "New/Received"
    assert result.events[0].type is EventType.RECEIVED


def test_patching_only_status_closed_names_no_outcome_and_is_refused() -> None:
    decision = rejected(
        decide(created(), command(CommandType.PATCH, patch_ops(status="Closed")), NOW)
    )

    assert decision.code is RejectionCode.ILLEGAL_TRANSITION


def test_patching_only_status_new_on_an_active_referral_is_illegal() -> None:
    stored = created_in("Active/Accepted")

    decision = rejected(decide(stored, command(CommandType.PATCH, patch_ops(status="New")), NOW))

    assert decision.code is RejectionCode.ILLEGAL_TRANSITION


@pytest.mark.parametrize(
    ("source", "status", "substatus"),
    [
        ("New/Pending", "Active", "Pending"),
        ("New/Pending", "New", "Won"),
        ("New/Received", "Active", "Received"),
        ("Active/Accepted", "Active", "Won"),
    ],
)
def test_patching_both_halves_to_a_pair_that_is_no_state_is_refused_not_reinterpreted(
    source: str, status: str, substatus: str
) -> None:
    # Inference is for a patch that names only one half; a patch naming both asked for
    # exactly that pair, which is not a lifecycle state.
    ops = patch_ops(status=status, substatus=substatus)

    decision = rejected(decide(created_in(source), command(CommandType.PATCH, ops), NOW))

    assert decision.code is RejectionCode.ILLEGAL_TRANSITION


def test_a_replace_naming_both_halves_of_an_impossible_pair_is_refused() -> None:
    stored = created()
    document = {"name": "Contoso", "status": "New", "substatus": "Won"}

    decision = decide(
        stored, command(CommandType.REPLACE, document, if_match=stored.referral.e_tag), NOW
    )

    assert rejected(decision).code is RejectionCode.ILLEGAL_TRANSITION


def test_moving_to_active_sets_accepted_date_time() -> None:
    result = applied(decide(created(), command(CommandType.ACCEPT), LATER))

    assert result.record.referral.accepted_date_time == LATER
    assert result.record.referral.closed_date_time is None
    assert (
        result.record.referral.to_document()["acceptedDateTime"] == "2026-03-02T14:30:00.0000000Z"
    )


def test_moving_to_closed_sets_closed_date_time_and_keeps_accepted_date_time() -> None:
    accepted = applied(decide(created(), command(CommandType.ACCEPT), NOW)).record

    result = applied(decide(accepted, command(CommandType.WIN), LATER))

    assert result.record.referral.accepted_date_time == NOW
    assert result.record.referral.closed_date_time == LATER


def test_moving_from_new_straight_to_closed_sets_no_accepted_date_time() -> None:
    result = applied(decide(created(), command(CommandType.DECLINE), LATER))

    assert result.record.referral.closed_date_time == LATER
    assert result.record.referral.accepted_date_time is None
    assert "acceptedDateTime" not in result.record.referral.to_document()


@pytest.mark.parametrize("correction", [CommandType.WIN, CommandType.DECLINE, CommandType.EXPIRE])
def test_correcting_a_closed_outcome_keeps_the_closed_date_time(correction: CommandType) -> None:
    lost = applied(decide(created(), command(CommandType.LOSE), NOW)).record

    result = applied(decide(lost, command(correction), LATER))

    assert result.record.referral.status is ReferralStatus.CLOSED
    assert result.record.referral.closed_date_time == NOW
    assert "/closedDateTime" not in result.events[0].changed_paths


def test_a_patch_correcting_a_closed_outcome_keeps_the_closed_date_time() -> None:
    lost = applied(decide(created(), command(CommandType.LOSE), NOW)).record

    result = applied(decide(lost, command(CommandType.PATCH, patch_ops(substatus="Won")), LATER))

    assert result.record.referral.substatus is ReferralSubstatus.WON
    assert result.record.referral.closed_date_time == NOW


def test_create_straight_into_active_stamps_accepted_date_time() -> None:
    record = created_in("Active/Accepted")

    assert record.referral.accepted_date_time == NOW
    assert record.referral.closed_date_time is None


@pytest.mark.parametrize(
    "state", ["Closed/Won", "Closed/Lost", "Closed/Declined", "Closed/Expired"]
)
def test_create_straight_into_closed_stamps_the_same_times_as_a_move_from_new(state: str) -> None:
    # A New referral closed directly (decline, win, ...) never passed through Active and
    # gets no acceptedDateTime; an import straight into Closed must not claim it did.
    record = created_in(state)

    assert record.referral.closed_date_time == NOW
    assert record.referral.accepted_date_time is None
    assert "acceptedDateTime" not in record.referral.to_document()
