"""What the decision is given and gives back: the stored referral, the command and the
moment it is decided at, the policy, the outcome."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from state.commands import Command
from state.errors import Rejected
from state.events import ReferralEvent
from state.identity import ReferralKey
from state.lifecycle import LifecycleState
from state.limits import DEFAULT_LIMITS, Limits
from state.referral_schema import Referral
from state.values import value_object


@value_object
class ReferralRecord:
    """A stored referral and the tenant (organization) that owns it, if any."""

    referral: Referral
    tenant_id: str | None = None

    @property
    def referral_id(self) -> str:
        assert self.referral.id is not None
        return self.referral.id

    @property
    def key(self) -> ReferralKey:
        return ReferralKey(self.tenant_id, self.referral_id)

    @property
    def version(self) -> int:
        return self.referral.version or 0

    @property
    def state(self) -> LifecycleState:
        assert self.referral.status is not None
        assert self.referral.substatus is not None
        return LifecycleState(self.referral.status, self.referral.substatus)


@value_object
class Applied:
    """The command was accepted; ``events`` is empty when it changed nothing."""

    record: ReferralRecord
    events: tuple[ReferralEvent, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    default_expiry: timedelta = timedelta(days=14)
    limits: Limits = DEFAULT_LIMITS


@value_object
class DecisionContext:
    """What a command is decided with, beside the stored referral."""

    command: Command
    now: datetime
    policy: Policy


Decision = Applied | Rejected
