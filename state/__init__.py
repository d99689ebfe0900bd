"""The referral domain: schema, lifecycle rules, commands, events and the decision.

Pure: nothing here performs I/O, reads settings or a clock. The service shell feeds it
stored referrals, decoded commands and the current time.
"""

from state.commands import MOVE_TARGETS, Command, CommandType
from state.decide import decide
from state.enums import (
    ReferralQualification,
    ReferralStatus,
    ReferralSubstatus,
    ReferralType,
    SolutionType,
    TargetType,
)
from state.errors import FieldProblem, Rejected, RejectionCode
from state.events import EventType, ReferralEvent
from state.identity import (
    CommandKey,
    ReferralKey,
    command_key,
    referral_id_for,
    referral_key,
)
from state.lifecycle import INITIAL_STATE, LEGAL_STATES, LifecycleState
from state.outcome import Applied, Decision, Policy, ReferralRecord
from state.referral_schema import Referral

__all__ = [
    "INITIAL_STATE",
    "LEGAL_STATES",
    "MOVE_TARGETS",
    "Applied",
    "Command",
    "CommandKey",
    "CommandType",
    "Decision",
    "EventType",
    "FieldProblem",
    "LifecycleState",
    "Policy",
    "Referral",
    "ReferralEvent",
    "ReferralKey",
    "ReferralQualification",
    "ReferralRecord",
    "ReferralStatus",
    "ReferralSubstatus",
    "ReferralType",
    "Rejected",
    "RejectionCode",
    "SolutionType",
    "TargetType",
    "command_key",
    "decide",
    "referral_id_for",
    "referral_key",
]
