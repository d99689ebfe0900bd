"""A change to a stored referral on Structs, as ``state.change`` makes it on documents: the
move through the machine, the owned fields of the move, what changed, and the stamp."""

import functools
from typing import Any, Final, NamedTuple

import msgspec
from msgspec import UNSET

from service.fast import schema
from service.fast.referral import FastRecord
from state import LEGAL_STATES, EventType, LifecycleState, ReferralStatus
from state.change import moved
from state.errors import Refused
from state.events import ARRIVAL_EVENTS
from state.stamping import BOOKKEEPING, etag_of

#: The timestamps a move stamps (``state.stamping.owned_fields``), by wire name.
_STAMPED: Final = frozenset({"acceptedDateTime", "closedDateTime"})


def _answer(source: LifecycleState, target: LifecycleState) -> LifecycleState | None:
    try:
        return moved(source, target)
    except Refused:
        return None


#: (Python name, "/" and wire name, whether a move stamps it, what is looked at below it): a
#: field a change may set, and, when it holds a Struct, the plan for the fields below it
#: (None: all of them). The referral's bookkeeping fields, which say nothing, are left out.
Plan = tuple[tuple[str, str, bool, "Plan | None"], ...]


@functools.lru_cache(maxsize=4096)
def _plan(struct: type[msgspec.Struct], paths: tuple[tuple[str, ...], ...]) -> Plan:
    """The fields of ``struct`` these paths of Python names go through, once each, in
    document order, with wire names and the plan below each (a change sets few fields, in
    few combinations: each is planned once)."""
    below: dict[str, list[tuple[str, ...]] | None] = {}
    for head, *rest in paths:
        if not rest:
            below[head] = None  # the whole field
        elif head not in below:
            below[head] = [tuple(rest)]
        elif (deeper := below[head]) is not None:
            deeper.append(tuple(rest))
    hints = dict(zip(struct.__struct_fields__, _field_types(struct), strict=True))
    return _planned(struct, {name: _below(hints[name], below[name]) for name in below})


def _planned(struct: type[msgspec.Struct], below: dict[str, "Plan | None"]) -> Plan:
    """The plan of these fields of ``struct``, in document order."""
    top = struct is schema.Referral
    return tuple(
        (name, f"/{wire}", top and wire in _STAMPED, below[name])
        for name, wire in _wire_names(struct)
        if name in below and not (top and wire in BOOKKEEPING)
    )


def _below(kind: type[msgspec.Struct] | None, paths: list[tuple[str, ...]] | None) -> Plan | None:
    return None if kind is None or paths is None else _plan(kind, tuple(paths))


@functools.lru_cache(maxsize=64)
def _every_field(struct: type[msgspec.Struct]) -> Plan:
    return _planned(struct, dict.fromkeys(struct.__struct_fields__))


def _wire_names(struct: type[msgspec.Struct]) -> "zip[tuple[str, str]]":
    return zip(struct.__struct_fields__, struct.__struct_encode_fields__, strict=True)


def _field_types(struct: type[msgspec.Struct]) -> list[type[msgspec.Struct] | None]:
    """The Struct each field holds when it holds one (else None)."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    found: list[type[msgspec.Struct] | None] = []
    for field in info.fields:
        kinds = (
            field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        )
        nested = [kind.cls for kind in kinds if isinstance(kind, msgspec.inspect.StructType)]
        found.append(nested[0] if len(nested) == 1 else None)
    return found


class Move(NamedTuple):
    """A move the machine allows, worked out once: where it arrives, the owned fields it
    sets (by Python name; the timestamp it stamps, if any, last), its event's type, and
    whether it was asked for the state the referral is in."""

    arrived: LifecycleState
    owned: dict[str, Any]
    stamped: str | None
    names: tuple[tuple[str, ...], ...]
    kind: EventType
    same: bool


def _move(source: LifecycleState, target: LifecycleState, arrived: LifecycleState) -> Move:
    """What the move from ``source`` to ``arrived`` sets, as ``changed_referral`` applies it."""
    status = arrived.status
    owned: dict[str, Any] = {"status": str(status), "substatus": str(arrived.substatus)}
    stamped = None
    if status is not source.status:
        if status is ReferralStatus.ACTIVE:
            stamped = "accepted_date_time"
        elif status is ReferralStatus.CLOSED:
            stamped = "closed_date_time"
    names = tuple((name,) for name in (*owned, stamped) if name is not None)
    kind = EventType.UPDATED if arrived == source else ARRIVAL_EVENTS.get(arrived.substatus)
    arrived = _LEGAL.get(arrived, arrived)
    return Move(arrived, owned, stamped, names, kind or EventType.UPDATED, source == target)


#: Each legal state, by itself: the one object of its value the table below is keyed by.
_LEGAL: Final = {state: state for state in LEGAL_STATES}
#: Where each legal state is taken when asked for each other: the one machine's answers
#: (``state.lifecycle``), asked once each; a pair it refuses is absent.
_MOVES: Final = {
    (source, target): _move(source, target, arrived)
    for source in LEGAL_STATES
    for target in LEGAL_STATES
    if (arrived := _answer(source, target)) is not None
}
#: The same by the identity of the two states (a state hashes and compares in Python, and
#: the states a decision holds are mostly these very objects, which live as long as this).
_BY_IDENTITY: Final = {(id(source), id(target)): move for (source, target), move in _MOVES.items()}


def legal(state: LifecycleState) -> LifecycleState:
    """The legal state of this value as the one object the move table knows (or itself)."""
    return _LEGAL.get(state, state)


def move_between(source: LifecycleState, target: LifecycleState) -> Move:
    """The move from ``source`` asked for ``target``, or the machine's refusal."""
    found = _BY_IDENTITY.get((id(source), id(target))) or _MOVES.get((source, target))
    return found or _move(source, target, moved(source, target))


class Change(msgspec.Struct, frozen=True, gc=False):
    referral: schema.Referral
    kind: EventType
    #: JSON Pointers of what changed, in the order ``state.stamping.changed_paths`` lists them.
    paths: list[str]
    #: Where the referral arrived.
    state: LifecycleState


def changed_referral(
    record: FastRecord,
    revised: schema.Referral,
    touched: tuple[tuple[str, ...], ...],
    move: Move,
    time: str,
    **also: Any,
) -> Change | None:
    """``revised`` moved as ``move`` says and stamped, or None when nothing changed.
    ``touched``: the fields the command set, each by the Python names from the referral down
    to it (``revised`` shares all others with the stored referral, struct for struct);
    ``also``: fields to set besides, by Python name (among ``touched``)."""
    owned = move.owned
    if move.stamped is not None:
        owned = {**owned, move.stamped: time}
    version = record.version + 1
    stamp = etag_of(record.referral_id, version, record.tenant_id)
    # Stamped at once: what changed is looked for among the fields a change sets, and the
    # stamp's are bookkeeping, which says nothing.
    after = msgspec.structs.replace(
        revised, **also, **owned, version=version, e_tag=stamp, updated_date_time=time
    )
    plan = _plan(schema.Referral, touched + move.names)
    paths = changed_paths(record.referral, after, "", plan)
    if not paths:
        return None
    return Change(after, move.kind, paths, move.arrived)


def changed_paths(
    before: msgspec.Struct,
    after: msgspec.Struct,
    prefix: str,
    plan: Plan | None = None,
) -> list[str]:
    """JSON Pointers of what differs: the fields ``before`` has first, in order, then those
    only ``after`` has, the timestamps a move stamps last (the models' change writes them
    after the command's fields); an absent field reads as null, as a document's missing key
    does. The bookkeeping fields of the referral itself say nothing and are left out.
    ``plan``: the fields that may differ, in order (default: all; the others hold the same
    objects in both)."""
    changed: list[str] = []
    added: list[str] = []
    stamped: list[str] = []
    for name, pointer, stamps, below in _every_field(type(before)) if plan is None else plan:
        old, new = getattr(before, name), getattr(after, name)
        if old is new:
            continue
        if old is UNSET:
            if new is not None:
                (stamped if stamps else added).append(prefix + pointer)
            continue
        if new is UNSET:
            new = None
        if old == new:
            continue
        if isinstance(old, msgspec.Struct) and type(old) is type(new):
            changed += changed_paths(old, new, prefix + pointer, below)
        else:
            changed.append(prefix + pointer)
    return changed + added + stamped
