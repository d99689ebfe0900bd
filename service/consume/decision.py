"""Deciding one polled batch: dedupe, decide, and what to write.

Pure: the caller passes in what the store holds of the batch's referrals and commands. The
result is the one transaction to write and the outcomes to report as metrics.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from service.codec import OutgoingRecord, encode_event, encode_rejection
from service.consume.records import Incoming
from service.dead_letters import encode_dead_letter
from service.jsonio import dumps
from service.outcomes import Outcome, OutcomeKind
from service.settings import EventMode, Settings
from service.store import BatchWrite, OutboxEntry, ProcessedCommand, ReferralWrite
from state import (
    Applied,
    CommandKey,
    Policy,
    ReferralKey,
    ReferralRecord,
    command_key,
    decide,
    referral_key,
)
from state.fields import format_utc
from state.limits import Limits, identifier_problem


@dataclass(slots=True)
class DecidedBatch:
    """What a batch decided: the one transaction to write, and each record's outcome."""

    write: BatchWrite = field(default_factory=BatchWrite)
    outcomes: list[Outcome] = field(default_factory=list)

    def assumed(self) -> "Assumed":
        """What the next batch, decided while this one lands, takes as stored."""
        return Assumed(
            {write.record.key: write.record for write in self.write.referrals},
            {CommandKey(p.tenant_id, p.command_id) for p in self.write.processed},
        )


@dataclass(frozen=True, slots=True)
class Assumed:
    """Referrals and commands a decision takes as stored though the store may not hold
    them yet: those of the batch in flight."""

    referrals: Mapping[ReferralKey, ReferralRecord] = field(default_factory=dict)
    commands: frozenset[CommandKey] | set[CommandKey] = frozenset()


def decide_batch(
    incoming: list[Incoming],
    current: Mapping[ReferralKey, ReferralRecord],
    seen: set[CommandKey],
    now: datetime,
    settings: Settings,
    policy: Policy,
) -> DecidedBatch:
    decided = DecidedBatch()
    latest = dict(current)
    changed: set[ReferralKey] = set()
    seen = set(seen)
    structured = settings.event_mode is EventMode.STRUCTURED
    for item in incoming:
        command = item.command
        if command is None:
            assert item.error is not None
            dead = encode_dead_letter(
                topic=settings.dlq_topic,
                key=item.key,
                value=item.value,
                headers=item.headers,
                code=item.error.code,
                message=item.error.message,
                origin=(item.topic, item.partition, item.offset),
                max_bytes=settings.max_record_bytes,
            )
            decided.write.outbox.append(OutboxEntry(item.partition, dead))
            decided.outcomes.append(Outcome("", OutcomeKind.DEAD_LETTERED, item.error.code))
            continue
        identity = command_key(command)
        if identity in seen:
            decided.outcomes.append(Outcome(command.type.value, OutcomeKind.DUPLICATE))
            continue
        seen.add(identity)
        key = referral_key(command)
        decision = decide(latest.get(key), command, now, policy)
        if isinstance(decision, Applied):
            outcome = OutcomeKind.APPLIED if decision.events else OutcomeKind.NOOP
            if decision.events:
                latest[key] = decision.record
                changed.add(key)
            for event in decision.events:
                record = encode_event(
                    event, settings.events_topic, settings.event_source, structured, item.trace
                )
                _queue(decided, item, record)
            decided.outcomes.append(Outcome(command.type.value, outcome, events=decision.events))
        else:
            rejection = encode_rejection(
                command,
                decision,
                settings.rejections_topic,
                settings.event_source,
                format_utc(now),
                structured,
                item.trace,
            )
            _queue(decided, item, rejection)
            decided.outcomes.append(
                Outcome(command.type.value, OutcomeKind.REJECTED, decision.code.value)
            )
        storable = identifier_problem(key.referral_id, settings.max_attribute_length) is None
        processed = ProcessedCommand(
            command.command_id,
            key.referral_id if storable else None,
            decided.outcomes[-1].outcome.value,
            command.tenant_id,
        )
        decided.write.processed.append(processed)
    decided.write.referrals = [
        ReferralWrite(latest[key], current[key].version if key in current else 0)
        for key in sorted(changed, key=_sortable)
    ]
    return decided


def _sortable(key: ReferralKey) -> tuple[str, str]:
    # A stable write order (tenant-less first) keeps concurrent batches from deadlocking.
    return (key.tenant_id or "", key.referral_id)


def _queue(decided: DecidedBatch, item: Incoming, record: OutgoingRecord) -> None:
    decided.write.outbox.append(OutboxEntry(item.partition, record))


def policy_of(settings: Settings) -> Policy:
    """The domain's policy from the settings; documents are measured by the wire encoder,
    whose encoding the events and the store then reuse."""
    limits = Limits(
        max_depth=settings.max_json_depth,
        max_patch_operations=settings.max_patch_operations,
        max_document_bytes=settings.max_document_bytes,
        max_array_items=settings.max_array_items,
        max_string_length=settings.max_string_length,
        max_id_length=settings.max_attribute_length,
        encode_document=dumps,
    )
    return Policy(default_expiry=settings.default_expiry, limits=limits)
