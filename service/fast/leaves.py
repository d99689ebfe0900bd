"""The leaves a canonical patch may set, and the structs changed along the way.

A leaf is a field holding one value (a string, a flag, a number, a timestamp, an enum) that
is reached from the referral through fields that each hold one object: ``/details/notes``,
``/customerProfile/address/city``, ``/status``. Its pointer is spelled with the wire names
exactly; the table is derived from the Structs, so it cannot name a field they do not have.
Fields the service owns are no leaves: a patch of one is refused (``state.decide``).
"""

import typing
from typing import Any, Final, NamedTuple

import msgspec
from msgspec import UNSET

from service.fast import schema
from state.owned import SERVICE_OWNED


class Leaf(NamedTuple):
    #: The Python names from the referral down to the leaf.
    names: tuple[str, ...]
    decode: Any
    #: How the decoded value is checked further (``validation.checked_leaf``).
    kind: str


def _kind(hint: object) -> str:
    text = repr(hint)
    if schema.TIMESTAMP_PATTERN.replace("\\", "\\\\") in text:
        return "timestamp"
    return "amount" if "Decimal" in text else "plain"


def _leaves(struct: type[msgspec.Struct], pointer: str, names: tuple[str, ...]) -> dict[str, Leaf]:
    found: dict[str, Leaf] = {}
    hints = typing.get_type_hints(struct, include_extras=True)
    for name, wire in zip(struct.__struct_fields__, struct.__struct_encode_fields__, strict=True):
        if not names and wire in SERVICE_OWNED:
            continue
        hint = hints[name]
        members = [m for m in typing.get_args(hint) if m not in (type(None), msgspec.UnsetType)]
        nested = [m for m in members if isinstance(m, type) and issubclass(m, msgspec.Struct)]
        if len(members) == 1 and len(nested) == 1:
            found |= _leaves(nested[0], f"{pointer}/{wire}", (*names, name))
        elif not any(typing.get_origin(m) is list or m in nested for m in members):
            leaf = Leaf((*names, name), msgspec.json.Decoder(hint).decode, _kind(hint))
            found[f"{pointer}/{wire}"] = leaf
    return found


#: Every leaf, by its JSON Pointer.
LEAVES: Final = _leaves(schema.Referral, "", ())


def with_leaf(struct: msgspec.Struct, names: tuple[str, ...], value: object, op: str) -> Any:
    """``struct`` with the leaf set, copying the structs along its path; None when the path
    goes through an object the referral does not have, or ``op`` replaces an absent leaf
    (what the models judge)."""
    name = names[0]
    held = getattr(struct, name)
    if len(names) == 1:
        if op == "replace" and held is UNSET:
            return None
        return msgspec.structs.replace(struct, **{name: value})
    if not isinstance(held, msgspec.Struct):
        return None
    changed = with_leaf(held, names[1:], value, op)
    return None if changed is None else msgspec.structs.replace(struct, **{name: changed})
