"""A change to a stored referral on Structs, as ``state.change`` makes it on documents: the
move through the machine, the owned fields of the move, what changed, and the stamp."""

import functools
from collections.abc import Iterable
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


_WIRE: Final = dict(
    zip(schema.Referral.__struct_fields__, schema.Referral.__struct_encode_fields__, strict=True)
)
_POSITION: Final = {name: index for index, name in enumerate(_WIRE)}


@functools.lru_cache(maxsize=4096)
def _in_order(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The referral's fields of these names, once each, in document order, with wire names
    (a change sets few fields, in few combinations: each is ordered once)."""
    return tuple((name, _WIRE[name]) for name in sorted(set(names), key=_POSITION.__getitem__))


class _Move(NamedTuple):
    """A move the machine allows, worked out once: where it arrives, the owned fields it
    sets (by Python name; the timestamp it stamps, if any, last), and its event's type."""

    arrived: LifecycleState
    owned: dict[str, Any]
    stamped: str | None
    names: tuple[str, ...]
    kind: EventType


def _move(source: LifecycleState, arrived: LifecycleState) -> _Move:
    """What the move from ``source`` to ``arrived`` sets, as ``changed_referral`` applies it."""
    status = arrived.status
    owned: dict[str, Any] = {"status": str(status), "substatus": str(arrived.substatus)}
    stamped = None
    if status is not source.status:
        if status is ReferralStatus.ACTIVE:
            stamped = "accepted_date_time"
        elif status is ReferralStatus.CLOSED:
            stamped = "closed_date_time"
    names = (*owned, stamped) if stamped is not None else tuple(owned)
    kind = EventType.UPDATED if arrived == source else ARRIVAL_EVENTS.get(arrived.substatus)
    return _Move(arrived, owned, stamped, names, kind or EventType.UPDATED)


#: Where each legal state is taken when asked for each other: the one machine's answers
#: (``state.lifecycle``), asked once each; a pair it refuses is absent.
_MOVES: Final = {
    (source, target): _move(source, arrived)
    for source in LEGAL_STATES
    for target in LEGAL_STATES
    if (arrived := _answer(source, target)) is not None
}


class Change(NamedTuple):
    referral: schema.Referral
    kind: EventType
    #: JSON Pointers of what changed, in the order ``state.stamping.changed_paths`` lists them.
    paths: list[str]
    #: Where the referral arrived.
    state: LifecycleState


def changed_referral(
    record: FastRecord,
    revised: schema.Referral,
    touched: tuple[str, ...],
    target: LifecycleState,
    time: str,
    **also: Any,
) -> Change | None:
    """``revised`` moved to ``target`` and stamped, or None when nothing changed; raises the
    refusal of a move the table forbids. ``touched``: the referral's fields the command set
    (by Python name; ``revised`` shares the others with the stored referral); ``also``:
    fields to set besides, by Python name (among ``touched``)."""
    source = record.state
    found = _MOVES.get((source, target))
    if found is None:  # a refusal, then
        found = _move(source, moved(source, target))
    owned = found.owned
    if found.stamped is not None:
        owned = {**owned, found.stamped: time}
    version = record.version + 1
    stamp = etag_of(record.referral_id, version, record.tenant_id)
    # Stamped at once: what changed is looked for among the fields a change sets, and the
    # stamp's are bookkeeping, which says nothing.
    after = msgspec.structs.replace(
        revised, **also, **owned, version=version, e_tag=stamp, updated_date_time=time
    )
    paths = changed_paths(record.referral, after, "", _in_order(touched + found.names))
    if not paths:
        return None
    return Change(after, found.kind, paths, found.arrived)


def changed_paths(
    before: msgspec.Struct,
    after: msgspec.Struct,
    prefix: str,
    fields: Iterable[tuple[str, str]] | None = None,
) -> list[str]:
    """JSON Pointers of what differs: the fields ``before`` has first, in order, then those
    only ``after`` has, the timestamps a move stamps last (the models' change writes them
    after the command's fields); an absent field reads as null, as a document's missing key
    does. The bookkeeping fields of the referral itself say nothing and are left out.
    ``fields``: (Python name, wire name) of those that may differ, in order (default: all)."""
    changed: list[str] = []
    added: list[str] = []
    stamped: list[str] = []
    top = not prefix
    if fields is None:
        fields = zip(before.__struct_fields__, before.__struct_encode_fields__, strict=True)
    for name, wire in fields:
        old, new = getattr(before, name), getattr(after, name)
        if old is new or (top and wire in BOOKKEEPING):
            continue
        if old is UNSET:
            if new is not None:
                (stamped if top and wire in _STAMPED else added).append(f"{prefix}/{wire}")
            continue
        if new is UNSET:
            new = None
        if old == new:
            continue
        if isinstance(old, msgspec.Struct) and type(old) is type(new):
            changed += changed_paths(old, new, f"{prefix}/{wire}")
        else:
            changed.append(f"{prefix}/{wire}")
    return changed + added + stamped
