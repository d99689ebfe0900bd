"""A command's data as the fast path reads it: typed, in the canonical form, within limits.

The data stays text until the decision knows what kind of command it belongs to; then it is
decoded into the Struct of that kind and checked to be the shortest spelling of what it
holds, up to the order of keys: no key named twice (the value read would hold one of them),
no space, no escape but the necessary ones (Raw values are written back as they came). Such
a text is exactly as long as its re-encoding (``canonical``); any other is left to the
models.
"""

from collections.abc import Callable
from typing import Final, TypeVar

import msgspec
from msgspec import UNSET

from service.fast.schema import ENCODE
from state import ReferralStatus, ReferralSubstatus
from state.commands import CONTROL_ESCAPE
from state.limits import Limits

T = TypeVar("T")


class PatchOperation(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One JSON Patch operation, its value left as text until the leaf it sets is known."""

    op: str
    path: str
    value: msgspec.Raw


class MoveData(msgspec.Struct, forbid_unknown_fields=True, gc=False, rename="camel"):
    """The data of a lifecycle move, in its one canonical spelling."""

    status_reason: str | msgspec.UnsetType | None = UNSET


OPERATIONS: Final = msgspec.json.Decoder(list[PatchOperation]).decode
MOVE_DATA: Final = msgspec.json.Decoder(MoveData).decode


def within(value: bytes, limits: Limits) -> bool:
    """Whether the record's text alone proves its data within the limits (as
    ``state.limits`` reads a ``TextExtent``; a ``\\u`` never reaches here)."""
    return (
        len(value) <= limits.max_string_length
        and (len(value) + 1) // 2 <= limits.max_array_items
        and value.count(b"{") + value.count(b"[") <= limits.max_depth
        and not CONTROL_ESCAPE(value)
    )


def decoded(
    decode: Callable[[bytes | msgspec.Raw], T], text: bytes | msgspec.Raw | None
) -> T | None:
    """What ``text`` holds, if it is in the canonical form; else None."""
    if text is None:
        return None
    try:
        value = decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return value if canonical(value, text) else None


def canonical(decoded: object, text: bytes | msgspec.Raw) -> bool:
    """Whether ``text`` is the shortest spelling of what was decoded from it (the module's
    docstring says what that is)."""
    return len(ENCODE(decoded)) == len(text)


def enums(
    status: object, substatus: object
) -> tuple[ReferralStatus | None, ReferralSubstatus | None]:
    """The state a document names, as the models' enums (the Structs hold exact values)."""
    return (
        ReferralStatus(status) if isinstance(status, str) else None,
        ReferralSubstatus(substatus) if isinstance(substatus, str) else None,
    )
