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


#: Where each legal state is taken when asked for each other: the one machine's answers
#: (``state.lifecycle``), asked once each; a pair it refuses is absent.
_MOVES: Final = {
    (source, target): arrived
    for source in LEGAL_STATES
    for target in LEGAL_STATES
    if (arrived := _answer(source, target)) is not None
}


class Change(NamedTuple):
    referral: schema.Referral
    kind: EventType
    #: JSON Pointers of what changed, in the order ``state.stamping.changed_paths`` lists them.
    paths: list[str]


def changed_referral(
    record: FastRecord,
    revised: schema.Referral,
    touched: Iterable[str],
    target: LifecycleState,
    time: str,
) -> Change | None:
    """``revised`` moved to ``target`` and stamped, or None when nothing changed; raises the
    refusal of a move the table forbids. ``touched``: the referral's fields the command set
    (by Python name; ``revised`` shares the others with the stored referral)."""
    source = record.state
    arrived = _MOVES.get((source, target))
    target = arrived if arrived is not None else moved(source, target)  # a refusal, then
    status = target.status
    owned: dict[str, Any] = {"status": str(status), "substatus": str(target.substatus)}
    if status is not source.status:
        if status is ReferralStatus.ACTIVE:
            owned["accepted_date_time"] = time
        elif status is ReferralStatus.CLOSED:
            owned["closed_date_time"] = time
    version = record.version + 1
    stamp = etag_of(record.referral_id, version, record.tenant_id)
    # Stamped at once: what changed is looked for among the fields a change sets, and the
    # stamp's are bookkeeping, which says nothing.
    after = msgspec.structs.replace(
        revised, **owned, version=version, e_tag=stamp, updated_date_time=time
    )
    paths = changed_paths(record.referral, after, "", _in_order((*touched, *owned)))
    if not paths:
        return None
    kind = EventType.UPDATED if target == source else ARRIVAL_EVENTS.get(target.substatus)
    return Change(after, kind or EventType.UPDATED, paths)


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
