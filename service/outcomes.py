"""What became of one consumed record: the outcome vocabulary that the consume loop reports,
the store records beside each processed command, the metrics count and the CLI reads back.
"""

from enum import StrEnum

from state import ReferralEvent
from state.values import value_object


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
    events: tuple[ReferralEvent, ...] = ()
