"""Commands: what a partner asks the service to do with a referral.

A command carries its CloudEvents identity (``command_id`` is the idempotency key, within
its tenant) and its ``data`` exactly as it arrived; the decision validates the data, so a
malformed payload becomes a rejection that names every problem instead of an exception.

``tenant_id`` is the tenant the shell established for the command (from the topic it came
from, or the declared attribute where that is trusted); ``declared_tenant_id`` is what the
command's ``tenantid`` attribute said. The decision acts as ``tenant_id`` only, and refuses
a command that declares another tenant than the one established.
"""

import re
from collections.abc import Callable
from dataclasses import field
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from state.enums import ReferralStatus as Status
from state.enums import ReferralSubstatus as Substatus
from state.lifecycle import LifecycleState
from state.referral_schema import Referral
from state.values import value_object


class CommandType(StrEnum):
    CREATE = "referral.create"
    PATCH = "referral.patch"
    REPLACE = "referral.replace"
    ACCEPT = "referral.accept"
    DECLINE = "referral.decline"
    WIN = "referral.win"
    LOSE = "referral.lose"
    EXPIRE = "referral.expire"


#: Where each named lifecycle command takes a referral.
MOVE_TARGETS: dict[CommandType, LifecycleState] = {
    CommandType.ACCEPT: LifecycleState(Status.ACTIVE, Substatus.ACCEPTED),
    CommandType.DECLINE: LifecycleState(Status.CLOSED, Substatus.DECLINED),
    CommandType.WIN: LifecycleState(Status.CLOSED, Substatus.WON),
    CommandType.LOSE: LifecycleState(Status.CLOSED, Substatus.LOST),
    CommandType.EXPIRE: LifecycleState(Status.CLOSED, Substatus.EXPIRED),
}


@value_object
class TextExtent:
    """What the JSON text a command's data was parsed from says about its size at most.

    A string, key, array or object in the data is never longer than the text's ``length``
    in bytes (nor has more than half as many items), and never nested deeper than its
    ``containers`` (the count of ``{`` and ``[`` in it, inside strings too). Only if the
    text ``may_escape_controls`` does a string or key hold a control character other than
    tab, line feed and carriage return: JSON writes those as escapes (``\\u0001``, ``\\b``,
    ``\\f``), never raw.
    """

    length: int
    containers: int
    may_escape_controls: bool = True

    @classmethod
    def of(cls, text: bytes) -> "TextExtent":
        controls = CONTROL_ESCAPE(text)
        return cls(len(text), text.count(b"{") + text.count(b"["), controls)


def json_escape(starts: bytes) -> Callable[[bytes], bool]:
    """Whether a JSON text holds an escape that begins with one of ``starts`` (alternatives,
    as a pattern): a backslash after an even run of them, since each pair is an escaped
    backslash (``\\\\b`` is a backslash and a ``b``, not a backspace)."""
    pattern = re.compile(rb"(?<!\\)(?:\\\\)*\\(?:" + starts + rb")")

    def holds(text: bytes) -> bool:
        # ``find`` of one byte is a memchr, many times cheaper than the pattern's search.
        return text.find(b"\\") >= 0 and pattern.search(text) is not None

    return holds


#: An escape that may write a control character: ``\\u00XX``, ``\\b`` or ``\\f``.
CONTROL_ESCAPE: Final = json_escape(rb"u00|b|f")


@value_object(kw_only=True)
class Command:
    type: CommandType
    command_id: str
    referral_id: str | None = None
    data: Any = None
    if_match: str | None = None
    correlation_id: str | None = None
    tenant_id: str | None = None
    declared_tenant_id: str | None = None
    #: The ``expirysignature`` attribute as sent: the proof the shell checks before an
    #: expiry on the shared commands topic acts as the tenant it names.
    expiry_signature: str | None = None
    #: The extent of the text ``data`` was read from, when it was read from JSON text (a
    #: hint for the limit checks, not part of what the command says).
    data_extent: TextExtent | None = field(default=None, compare=False)


class PatchOperation(BaseModel):
    """One operation of a ``referral.patch``: JSON Patch ``add`` or ``replace``."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["add", "replace"]
    path: str = Field(pattern="^/", description="JSON Pointer into the referral document")
    value: Any


class LifecycleMoveData(BaseModel):
    """The optional data of accept, decline, win, lose and expire."""

    model_config = ConfigDict(extra="forbid")
    status_reason: str | None = Field(
        default=None,
        validation_alias=AliasChoices("statusReason", "StatusReason"),
        serialization_alias="statusReason",
    )


#: The shape of each command's ``data``, for the published contract.
DATA_SHAPES: dict[CommandType, Any] = {
    CommandType.CREATE: Referral,
    CommandType.PATCH: list[PatchOperation],
    CommandType.REPLACE: Referral,
    **{move: LifecycleMoveData | None for move in MOVE_TARGETS},
}
