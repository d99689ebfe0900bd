"""Deciding one polled batch: decode, dedupe, load, decide, and what to write.

Pure apart from the store reads the caller passes in; the consume loop owns the I/O.
The result is the one transaction to write and the outcomes to report as metrics.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from service.codec import (
    OutgoingRecord,
    Undecodable,
    WireLimits,
    decode_command,
    encode_event,
    encode_rejection,
)
from service.dead_letters import encode_dead_letter
from service.errors import RecordFailed
from service.jsonio import dumps
from service.settings import EventMode, Settings
from service.store import BatchWrite, OutboxEntry, ProcessedCommand, ReferralWrite
from service.tenancy import established
from state import (
    Applied,
    Command,
    CommandKey,
    Policy,
    ReferralEvent,
    ReferralKey,
    ReferralRecord,
    command_key,
    decide,
    referral_key,
)
from state.fields import format_utc
from state.limits import Limits, identifier_problem
from state.values import value_object


@value_object
class Incoming:
    """One consumed record, decoded or not."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    command: Command | None
    error: Undecodable | None
    #: The trace context its outcomes carry (traceparent, tracestate), when traced.
    trace: tuple[tuple[str, str], ...] = ()


class OutcomeKind(StrEnum):
    """What became of one consumed record (the ``outcome`` label of the commands metric)."""

    APPLIED = "applied"
    NOOP = "noop"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"


@value_object
class Outcome:
    command_type: str
    outcome: OutcomeKind
    code: str = ""
    events: tuple[ReferralEvent, ...] = ()


@dataclass(slots=True)
class DecidedBatch:
    write: BatchWrite = field(default_factory=BatchWrite)
    outcomes: list[Outcome] = field(default_factory=list)


class ConsumedRecord(Protocol):
    """What the consume loop reads of a record polled from Kafka."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] | None


def read_record(
    record: ConsumedRecord, limits: WireLimits, topic_tenants: Mapping[str, str] | None = None
) -> Incoming:
    """Decode one polled record, acting as the tenant of its topic if it has one; never
    raises (a record that cannot be read is kept as such)."""
    headers = tuple(record.headers or ())
    command: Command | None = None
    error: Undecodable | None = None
    try:
        decoded = decode_command(record.value, headers, limits)
        command = established(decoded, record.topic, topic_tenants or {})
    except Undecodable as undecodable:
        error = undecodable
    except Exception as unexpected:  # decoding is pure: the record alone is to blame
        error = Undecodable("processing-failed", RecordFailed("decode", unexpected).describe())
    return Incoming(
        record.topic,
        record.partition,
        record.offset,
        record.timestamp,
        record.key,
        record.value,
        headers,
        command,
        error,
    )


def referral_keys(incoming: list[Incoming], max_length: int) -> set[ReferralKey]:
    """The referrals to load, each in its command's tenant: only ids of a shape the store
    can hold (others are refused)."""
    named = (referral_key(item.command) for item in incoming if item.command is not None)
    return {key for key in named if identifier_problem(key.referral_id, max_length) is None}


def command_keys(incoming: list[Incoming]) -> set[CommandKey]:
    return {command_key(item.command) for item in incoming if item.command is not None}


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
        max_indexed_length=settings.max_indexed_length,
        encode_document=dumps,
    )
    return Policy(default_expiry=settings.default_expiry, limits=limits)
