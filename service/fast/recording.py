"""What a decision of the fast path makes, with what every command of a batch shares: the
referral as stored (encoded once, its indexed strings checked), its event's record or its
rejection's, and the outcome the metrics read."""

from datetime import datetime

from service.codec import OutgoingRecord, encode_rejection
from service.fast import schema
from service.fast.events import EventHeaders, FastEvent, event_record
from service.fast.referral import FastRecord, indexed_strings, stored_record
from service.outcomes import Outcome, OutcomeKind
from service.settings import EventMode, Settings
from state import Command, LifecycleState, Policy
from state.errors import Refused
from state.fields import format_utc
from state.limits import identifiers_fit

#: A decision: the outcome, the records to publish, the referral as changed (or None).
FastDecision = tuple[Outcome, list[OutgoingRecord], FastRecord | None]


class FastContext:
    """What every command of a batch is decided with."""

    __slots__ = ("events", "expires", "limits", "now", "settings", "structured", "time")

    def __init__(self, now: datetime, settings: Settings, policy: Policy) -> None:
        self.now, self.settings, self.limits = now, settings, policy.limits
        self.time = format_utc(now)
        self.expires = format_utc(now + policy.default_expiry)
        self.structured = settings.event_mode is EventMode.STRUCTURED
        self.events = EventHeaders(
            settings.events_topic, settings.event_source, self.time, self.structured
        )


class Recording:
    """What a command's decision makes: the referral as stored, its event or its rejection,
    and the outcome."""

    __slots__ = ("command", "context", "trace")

    def __init__(
        self, command: Command, trace: tuple[tuple[str, str], ...], context: FastContext
    ) -> None:
        self.command, self.trace, self.context = command, trace, context

    def _stored(
        self,
        referral: schema.Referral,
        before: FastRecord | None,
        indexed: bool = True,
        state: LifecycleState | None = None,
    ) -> FastRecord | None:
        """The referral encoded, if a store can hold it as the models would take it.
        ``indexed``: whether the change may bring indexed strings (else ``before`` is None);
        ``state``: the referral's, when known (else read from it)."""
        limits = self.context.limits
        encoded = schema.ENCODE(referral)
        if len(encoded) > limits.max_document_bytes:
            return None
        tenant_id = self.command.tenant_id
        if not indexed:
            if state is not None:
                return FastRecord(referral, encoded, tenant_id, state)
            return stored_record(referral, encoded, tenant_id)
        brought = indexed_strings(referral)
        kept = indexed_strings(before.referral) if before is not None else ()
        if brought != kept:
            known = {value for _, value in kept}
            new = [value for _, value in brought if value not in known]
            if not identifiers_fit(new, limits.max_indexed_length):  # each an identifier
                return None
        if state is not None:
            return FastRecord(referral, encoded, tenant_id, state)
        return stored_record(referral, encoded, tenant_id)

    def applied(self, event: FastEvent, paths: list[str]) -> FastDecision:
        command = self.command
        record = event_record(
            event,
            paths,
            command.command_id,
            command.correlation_id,
            self.context.events,
            self.trace,
        )
        outcome = Outcome(str(command.type), OutcomeKind.APPLIED, "", (event,), True)
        return outcome, [record], event.record

    def rejected(self, refusal: Refused) -> FastDecision:
        settings, context = self.context.settings, self.context
        rejected = refusal.rejected
        record = encode_rejection(
            self.command,
            rejected,
            settings.rejections_topic,
            settings.event_source,
            context.time,
            context.structured,
            self.trace,
        )
        outcome = Outcome(
            str(self.command.type),
            OutcomeKind.REJECTED,
            str(rejected.code),
            fast=True,
            rejection=rejected,
        )
        return outcome, [record], None
