"""Value objects compare and hash by value, and the type checker refuses to change them."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from service.outcomes import Outcome, OutcomeKind
from state import Command, CommandType, LifecycleState, ReferralStatus, ReferralSubstatus
from state.values import value_object


@value_object
class Point:
    x: int
    y: int = 0


@value_object(kw_only=True)
class Named:
    name: str


def test_a_value_object_is_equal_and_hashes_by_its_fields() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(2, 1)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert {Point(1), Point(1)} == {Point(1, 0)}


def test_a_value_object_has_slots_and_no_instance_dict() -> None:
    assert not hasattr(Point(1), "__dict__")
    with pytest.raises(AttributeError):
        Point(1).z = 3  # type: ignore[attr-defined]


def test_a_keyword_only_value_object_refuses_positional_fields() -> None:
    assert Named(name="a") == Named(name="a")
    with pytest.raises(TypeError):
        Named("a")  # type: ignore[misc]


def test_the_lifecycle_states_and_outcomes_stay_hashable_values() -> None:
    accepted = LifecycleState(ReferralStatus.ACTIVE, ReferralSubstatus.ACCEPTED)
    assert {accepted: 1}[LifecycleState(ReferralStatus.ACTIVE, ReferralSubstatus.ACCEPTED)] == 1
    assert Outcome("referral.accept", OutcomeKind.APPLIED) == Outcome(
        "referral.accept", OutcomeKind.APPLIED
    )


def test_the_type_checker_refuses_to_change_a_value_object(tmp_path: Path) -> None:
    program = tmp_path / "changes_values.py"
    program.write_text(
        textwrap.dedent(
            """
            from state import Command, CommandType
            from state.values import value_object

            @value_object
            class Point:
                x: int

            Point(1).x = 2
            Command(type=CommandType.ACCEPT, command_id="c").command_id = "d"
            """
        )
    )
    # In a process of its own: mypy changes the interpreter's recursion limit.
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         str(program)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert checked.stdout.count("is read-only") == 2, checked.stdout
    assert Command(type=CommandType.ACCEPT, command_id="c").command_id == "c"
