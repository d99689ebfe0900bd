"""Commands: what a partner asks the service to do with a referral.

A command carries its CloudEvents identity (``command_id`` is the idempotency key) and its
``data`` exactly as it arrived; the decision validates the data, so a malformed payload
becomes a rejection that names every problem instead of an exception.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from state.enums import ReferralStatus as Status
from state.enums import ReferralSubstatus as Substatus
from state.lifecycle import LifecycleState


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    type: CommandType
    command_id: str
    referral_id: str | None = None
    data: Any = None
    if_match: str | None = None
    correlation_id: str | None = None
    tenant_id: str | None = None
