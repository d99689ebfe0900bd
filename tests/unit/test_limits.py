"""Every limit on a command gives a rejection naming the place and the limit."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state import Applied, CommandType, Policy, Rejected, RejectionCode, decide
from state.commands import TextExtent
from state.limits import Limits, data_problem, identifier_problem, nesting_depth
from tests.support.builders import NOW, REFERRAL_ID, command

LIMITS = Limits(
    max_depth=8,
    max_patch_operations=3,
    max_document_bytes=4096,
    max_array_items=5,
    max_string_length=50,
    max_id_length=20,
)
POLICY = Policy(limits=LIMITS)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"n": value}
    return value


def created() -> Any:
    decision = decide(None, command(CommandType.CREATE, {"name": "Contoso"}), NOW, POLICY)
    assert isinstance(decision, Applied)
    return decision.record


def rejection(current: Any, kind: CommandType, data: Any, **extra: Any) -> Rejected:
    decision = decide(current, command(kind, data, **extra), NOW, POLICY)
    assert isinstance(decision, Rejected), decision
    assert decision.code is RejectionCode.INVALID_REQUEST
    return decision


@pytest.mark.parametrize(
    ("data", "target", "code"),
    [
        ({"name": "Contoso", "extra": nested(8)}, "/extra/n/n/n/n/n/n/n", "tooDeep"),
        ({"team": [{}] * 6}, "/team", "tooManyItems"),
        ({"x": {str(i): i for i in range(6)}}, "/x", "tooManyItems"),
        ({"customerProfile": {"name": "x" * 51}}, "/customerProfile/name", "tooLong"),
        ({"a/b~c": "y" * 51}, "/a~1b~0c", "tooLong"),
    ],
)
def test_a_create_over_a_limit_is_rejected_at_the_offending_place(
    data: Any, target: str, code: str
) -> None:
    refused = rejection(None, CommandType.CREATE, data)
    assert [(d.target, d.code) for d in refused.details] == [(target, code)]


def test_a_patch_with_too_many_operations_is_rejected() -> None:
    operations = [{"op": "add", "path": f"/n{i}", "value": i} for i in range(4)]
    refused = rejection(created(), CommandType.PATCH, operations)
    assert [d.code for d in refused.details] == ["tooManyOperations"]


def test_a_patch_value_that_would_sit_too_deep_is_rejected_at_its_operation() -> None:
    operation = {"op": "add", "path": "/a/b/c/d", "value": nested(5)}
    refused = rejection(created(), CommandType.PATCH, [operation])
    assert [(d.target, d.code) for d in refused.details] == [("/0/value", "tooDeep")]


def test_a_patch_adding_to_a_full_array_is_rejected() -> None:
    record = decide(None, command(CommandType.CREATE, {"team": [{}] * 5}), NOW, POLICY)
    assert isinstance(record, Applied)
    refused = rejection(
        record.record, CommandType.PATCH, [{"op": "add", "path": "/team/-", "value": {}}]
    )
    assert [(d.target, d.code) for d in refused.details] == [("/0/path", "tooManyItems")]


def test_patches_cannot_grow_a_referral_past_the_document_limit() -> None:
    record = created()
    for index in range(200):
        operation = {"op": "add", "path": f"/note{index}", "value": "n" * 40}
        decision = decide(record, command(CommandType.PATCH, [operation]), NOW, POLICY)
        if isinstance(decision, Rejected):
            assert [(d.target, d.code) for d in decision.details] == [("", "tooLarge")]
            assert LIMITS.document_bytes(record.referral.to_document()) <= LIMITS.max_document_bytes
            return
        assert isinstance(decision, Applied)
        record = decision.record
    pytest.fail("the referral grew past the document limit")


@pytest.mark.parametrize("bad_id", ["i" * 21, "a\x00b", "tab\there", "\ud800"])
def test_a_create_naming_an_id_the_store_cannot_hold_is_rejected_at_id(bad_id: str) -> None:
    refused = rejection(None, CommandType.CREATE, {"id": bad_id}, referral_id=None)
    assert [d.target for d in refused.details] == ["/id"]


def test_a_rejection_lists_at_most_a_hundred_details_and_says_how_many_more() -> None:
    team = [{"email": f"not-an-email-{i}"} for i in range(150)]
    decision = decide(None, command(CommandType.CREATE, {"team": team}), NOW)
    assert isinstance(decision, Rejected)
    assert len(decision.details) == 101
    assert decision.details[-1].message == "50 more problems not listed"
    assert len(decision.message) <= 1000


def test_limits_are_measured_without_recursion_at_any_depth() -> None:
    value: Any = 1
    for _ in range(50_000):
        value = [value]
    assert nesting_depth(value) == 50_000
    problem = data_problem(value, LIMITS)
    assert problem is not None
    assert problem.code == "tooDeep"


@pytest.mark.parametrize(
    ("value", "ok"),
    [(None, True), ("", True), ("8c1f2a7e-5b3d", True), (REFERRAL_ID[:20], True), (7, False),
     ("x" * 21, False), ("a\nb", False), ("\x7f", False), ("é-ü-中", True)],
)  # fmt: skip
def test_identifiers_are_strings_of_bounded_length_without_control_characters(
    value: object, ok: bool
) -> None:
    assert (identifier_problem(value, 20) is None) == ok


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=60),
    lambda children: (
        st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=60), children, max_size=8)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(_JSON_VALUES, st.booleans(), st.sampled_from([(",", ":"), (", ", ": ")]))
def test_the_extent_of_the_text_never_hides_a_problem(
    value: Any, ascii_only: bool, separators: tuple[str, str]
) -> None:
    # The shortcut over the raw text must answer as the walk does, on the limits' edges too.
    text = json.dumps(value, ensure_ascii=ascii_only, separators=separators).encode()
    data = json.loads(text)
    for limits in (LIMITS, Limits(max_depth=3, max_array_items=2, max_string_length=8)):
        assert data_problem(data, limits, TextExtent.of(text)) == data_problem(data, limits)


def test_a_small_command_is_proven_within_by_its_text_alone() -> None:
    # The walk is skipped: a value the walk would refuse shows the text was trusted.
    deep = nested(LIMITS.max_depth + 1)
    assert data_problem(deep, LIMITS) is not None
    assert data_problem(deep, LIMITS, TextExtent(10, 1, may_escape_controls=False)) is None


@pytest.mark.parametrize(
    ("text", "controls"),
    [
        (rb'"\b"', True),
        (rb'"\f"', True),
        (rb'"\u0001"', True),
        (rb'"\\\b"', True),  # an escaped backslash, then a backspace
        (rb'"\\b"', False),  # a backslash and a b
        (rb'"\\f\\u0001"', False),
        (rb'"\\\\b"', False),
        (rb'"a\nb\tc"', False),  # the control characters the limits allow
    ],
)
def test_the_extent_sees_an_escape_of_a_control_character_and_only_that(
    text: bytes, controls: bool
) -> None:
    assert TextExtent.of(text).may_escape_controls is controls
