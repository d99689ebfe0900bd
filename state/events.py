"""Domain events: what happened to a referral, recorded by the decision, never published by it.

Each applied change produces one event whose type names the lifecycle move (``won``,
``accepted``...) or ``updated`` when the state stayed. ``version`` rises by one per event
and the event id is derived from the referral's tenant, id and version, so a re-published
event is recognisably the same one.
"""

from datetime import datetime
from enum import StrEnum

from state.enums import ReferralStatus as Status
from state.enums import ReferralSubstatus as Substatus
from state.referral_schema import Referral
from state.values import value_object


class EventType(StrEnum):
    CREATED = "referral.created"
    UPDATED = "referral.updated"
    RECEIVED = "referral.received"
    ACCEPTED = "referral.accepted"
    WON = "referral.won"
    LOST = "referral.lost"
    DECLINED = "referral.declined"
    EXPIRED = "referral.expired"


#: The event a move into each substatus emits; Pending has none of its own.
ARRIVAL_EVENTS: dict[Substatus, EventType] = {
    Substatus.RECEIVED: EventType.RECEIVED,
    Substatus.ACCEPTED: EventType.ACCEPTED,
    Substatus.WON: EventType.WON,
    Substatus.LOST: EventType.LOST,
    Substatus.DECLINED: EventType.DECLINED,
    Substatus.EXPIRED: EventType.EXPIRED,
}


@value_object(kw_only=True)
class ReferralEvent:
    event_id: str
    type: EventType
    referral_id: str
    version: int
    etag: str
    status: Status
    substatus: Substatus
    previous_status: Status | None
    previous_substatus: Substatus | None
    changed_paths: tuple[str, ...]
    command_id: str
    correlation_id: str | None
    time: datetime
    referral: Referral
    tenant_id: str | None = None  # the referral's tenant: with its id, what names it

    def lifetime(self) -> tuple[datetime | None, datetime | None, datetime | None]:
        """When the referral was created, accepted and closed."""
        referral = self.referral
        return referral.created_date_time, referral.accepted_date_time, referral.closed_date_time
