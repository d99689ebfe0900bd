"""The Status/Substatus rules of a referral, as data, and the one machine built from them.

The table is Partner Center's, read literally: a referral may move from one status to
another when the new status is in the old one's "may move to" list and the new
substatus belongs to the new status. Nothing leaves Closed; Active never goes back to
New; within a status the substatus may change (a Closed outcome can be corrected).

One ``transitions`` machine with no models is built from the table at import and shared:
a machine per referral costs far more than a trigger on a shared one.
"""

from dataclasses import dataclass
from typing import Any, Final

from transitions import Machine, MachineError

from state.enums import ReferralStatus as Status
from state.enums import ReferralSubstatus as Substatus

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


@dataclass(frozen=True, slots=True)
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


def is_legal(state: LifecycleState) -> bool:
    return state.name in _BY_NAME


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
    if not is_legal(target):
        raise IllegalMove(source, target)
    cursor = _Cursor(source.name)
    try:
        RULEBOOK.events[move_trigger(target)].trigger(cursor)
    except MachineError:
        raise IllegalMove(source, target) from None
    return _BY_NAME[cursor.state]


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
