"""The Status/Substatus rules of a referral, as data, and the one machine built from them.

The table is Partner Center's, read literally: a referral may move from one status to
another when the new status is in the old one's "may move to" list and the new
substatus belongs to the new status. Nothing leaves Closed; Active never goes back to
New; within a status the substatus may change (a Closed outcome can be corrected).

One ``transitions`` machine with no models is built from the table at import and shared:
a machine per referral costs far more than a trigger on a shared one.
"""

import functools
from typing import Any, Final

from transitions import Machine, MachineError

from state.enums import ReferralStatus as Status
from state.enums import ReferralSubstatus as Substatus
from state.errors import FieldProblem
from state.values import value_object

#: Which statuses each status may move to (the seed's "Allowed Status Transition").
MAY_MOVE_TO: Final[dict[Status, tuple[Status, ...]]] = {
    Status.NEW: (Status.NEW, Status.ACTIVE, Status.CLOSED),
    Status.ACTIVE: (Status.ACTIVE, Status.CLOSED),
    Status.CLOSED: (Status.CLOSED,),
}

#: Which substatuses belong to each status (the seed's "Allowed Substatus").
SUBSTATUSES: Final[dict[Status, tuple[Substatus, ...]]] = {
    Status.NEW: (Substatus.PENDING, Substatus.RECEIVED),
    Status.ACTIVE: (Substatus.ACCEPTED,),
    Status.CLOSED: (Substatus.WON, Substatus.LOST, Substatus.DECLINED, Substatus.EXPIRED),
}


@value_object
class LifecycleState:
    status: Status
    substatus: Substatus

    @property
    def name(self) -> str:
        return f"{self.status.value}/{self.substatus.value}"

    def __str__(self) -> str:
        return self.name


LEGAL_STATES: Final[tuple[LifecycleState, ...]] = tuple(
    LifecycleState(status, substatus)
    for status, substatuses in SUBSTATUSES.items()
    for substatus in substatuses
)
INITIAL_STATE: Final = LifecycleState(Status.NEW, Substatus.PENDING)
_BY_NAME: Final = {state.name: state for state in LEGAL_STATES}
_LEGAL: Final = frozenset(LEGAL_STATES)


def is_legal(state: LifecycleState) -> bool:
    return state in _LEGAL


def may_move(source: LifecycleState, target: LifecycleState) -> bool:
    return (
        target.status in MAY_MOVE_TO[source.status]
        and target.substatus in SUBSTATUSES[target.status]
    )


def move_trigger(target: LifecycleState) -> str:
    return f"move_to_{target.status.value}_{target.substatus.value}"


def _transitions() -> list[dict[str, Any]]:
    return [
        {
            "trigger": move_trigger(target),
            "source": [s.name for s in LEGAL_STATES if s != target and may_move(s, target)],
            "dest": target.name,
        }
        for target in LEGAL_STATES
    ]


RULEBOOK: Final = Machine(
    model=None,
    states=[state.name for state in LEGAL_STATES],
    transitions=_transitions(),
    initial=None,
    auto_transitions=False,
)


class _Cursor:
    """The short-lived model the shared machine moves; ``state`` is what it reads and writes."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class IllegalMove(Exception):
    def __init__(self, source: LifecycleState, target: LifecycleState) -> None:
        super().__init__(f"a referral in {source} cannot move to {target}")
        self.source = source
        self.target = target


def move(source: LifecycleState, target: LifecycleState) -> LifecycleState:
    """Run the move through the machine; raises IllegalMove when the table forbids it."""
    arrived = _machine_answer(source, target) if is_legal(target) else None
    if arrived is None:
        raise IllegalMove(source, target)
    return arrived


@functools.cache
def _machine_answer(source: LifecycleState, target: LifecycleState) -> LifecycleState | None:
    # A move depends on the two states alone, so each pair asks the machine once.
    cursor = _Cursor(source.name)
    try:
        RULEBOOK.events[move_trigger(target)].trigger(cursor)
    except MachineError:
        return None
    return _BY_NAME[cursor.state]


#: The substatus a lone status implies, where one alone makes sense.
DEFAULT_SUBSTATUS: Final = {Status.NEW: Substatus.PENDING, Status.ACTIVE: Substatus.ACCEPTED}
#: The status each substatus belongs to.
STATUS_OF: Final = {sub: status for status, subs in SUBSTATUSES.items() for sub in subs}


def named_state(
    status: Status | None, substatus: Substatus | None, current: LifecycleState | None
) -> LifecycleState:
    """The state a document names, completed from ``current`` (None for a create).

    Both named: exactly that pair. Neither: the current state, or the initial one. Only the
    status: the current substatus if it belongs to it, else its default. Only the substatus:
    the current status if it belongs to it, else the status it belongs to. The result may be
    illegal (``is_legal`` tells).
    """
    if status is None and substatus is None:
        return current or INITIAL_STATE
    if substatus is None:
        assert status is not None
        keeps = current is not None and current.substatus in SUBSTATUSES.get(status, ())
        fallback = DEFAULT_SUBSTATUS.get(status, Substatus.NONE)
        substatus = current.substatus if current is not None and keeps else fallback
    elif status is None:
        keeps = current is not None and substatus in SUBSTATUSES[current.status]
        fallback_status = STATUS_OF.get(substatus, Status.NONE)
        status = current.status if current is not None and keeps else fallback_status
    return LifecycleState(status, substatus)


def state_problem(state: LifecycleState) -> FieldProblem:
    """Why ``state`` is not one of the seven, as a detail of a rejection."""
    allowed = ", ".join(s.value for s in SUBSTATUSES.get(state.status, ()))
    if not allowed:
        return FieldProblem(
            "/status", "invalidValue", f"status {state.status} is not a lifecycle status"
        )
    return FieldProblem(
        "/substatus",
        "invalidValue",
        f"substatus {state.substatus} is not allowed with status {state.status}"
        f" (allowed: {allowed})",
    )


def mermaid_diagram() -> str:
    """A Mermaid state diagram generated from the table: statuses holding their substatuses."""
    lines = ["stateDiagram-v2", f"    [*] --> {INITIAL_STATE.status.value}"]
    for status, substatuses in SUBSTATUSES.items():
        lines.append(f"    state {status.value} {{")
        if status is INITIAL_STATE.status:
            lines.append(f"        [*] --> {INITIAL_STATE.substatus.value}")
        lines += [f"        {substatus.value}" for substatus in substatuses]
        if len(substatuses) == 2:
            first, second = substatuses
            lines += [
                f"        {first.value} --> {second.value}",
                f"        {second.value} --> {first.value}",
            ]
        lines.append("    }")
        if len(substatuses) > 2:
            lines.append(f"    note right of {status.value}: the substatus may change to any other")
    for source, targets in MAY_MOVE_TO.items():
        lines += [
            f"    {source.value} --> {target.value}" for target in targets if target != source
        ]
    return "\n".join(lines) + "\n"
