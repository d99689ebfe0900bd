"""What became of one consumed record: the outcome vocabulary that the consume loop reports,
the store records beside each processed command, the metrics count and the CLI reads back.
"""

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from state import EventType, ReferralStatus, ReferralSubstatus, Rejected
from state.values import value_object


class EventFacts(Protocol):
    """What the metrics read of an event, whichever path decided it."""

    @property
    def type(self) -> EventType: ...
    @property
    def status(self) -> ReferralStatus: ...
    @property
    def substatus(self) -> ReferralSubstatus: ...
    @property
    def previous_status(self) -> ReferralStatus | None: ...
    @property
    def previous_substatus(self) -> ReferralSubstatus | None: ...
    def lifetime(self) -> tuple[datetime | None, datetime | None, datetime | None]:
        """When the referral was created, accepted and closed."""
        ...


class OutcomeKind(StrEnum):
    """What became of one consumed record (the ``outcome`` label of the commands metric)."""

    APPLIED = "applied"
    NOOP = "noop"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"


@value_object
class Outcome:
    """One record's outcome: its command type (empty when it was no command), what became
    of it, the code of a rejection or dead letter, and the events it caused."""

    command_type: str
    outcome: OutcomeKind
    code: str = ""
    events: tuple[EventFacts, ...] = ()
    #: Decided by the fast path (``service.fast``), not by the models.
    fast: bool = False
    #: A rejected command's rejection, whose reason the store keeps.
    rejection: Rejected | None = None
