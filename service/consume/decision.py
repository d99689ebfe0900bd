"""Deciding one polled batch: dedupe, decide, and what to write.

Pure: the caller passes in what the store holds of the batch's referrals and commands. The
result is the one transaction to write and the outcomes to report as metrics. A little over
300 lines: the decision, what it yields and what the next decision takes from it are read
together.
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from service.codec import OutgoingRecord, WireLimits, encode_event, encode_rejection
from service.consume.records import ADDRESS_TENANT, Incoming, address_key, read_strictly
from service.dead_letter_codes import DeadLetterCode
from service.dead_letters import encode_dead_letter
from service.errors import RecordFailed, Stage
from service.fast.deciding import decide_fast
from service.fast.recording import FastContext, FastDecision
from service.fast.referral import AnyRecord, model_record
from service.jsonio import dumps
from service.outcomes import Outcome, OutcomeKind
from service.payloads import rejection_reason
from service.settings import EventMode, Settings
from service.store import BatchWrite, OutboxEntry, ProcessedCommand, ReferralWrite
from state import (
    Applied,
    Command,
    CommandKey,
    Policy,
    ReferralKey,
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
    #: The commands the decision failed on, each with why: dead-lettered in the batch.
    poisoned: list[tuple[Incoming, str]] = field(default_factory=list)
    #: How many commands the fast path decided (``service.fast``); the models, the rest.
    fast: int = 0
    _processed_keys: frozenset[CommandKey] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def assumed(self) -> "Assumed":
        """What the next batch, decided while this one lands, takes as stored."""
        return Assumed(
            {write.record.key: write.record for write in self.write.referrals},
            self.processed_keys(),
        )

    def processed_keys(self) -> frozenset[CommandKey]:
        """The commands the batch records as processed, built once: the next decision and
        the cache of recent commands both ask (the batch is final once decided)."""
        if self._processed_keys is None:
            processed = self.write.processed
            self._processed_keys = frozenset(
                CommandKey(p.tenant_id, p.command_id) for p in processed
            )
        return self._processed_keys


@dataclass(frozen=True, slots=True)
class Assumed:
    """Referrals and commands a decision takes as stored though the store may not hold
    them yet: those of the batch in flight."""

    referrals: Mapping[ReferralKey, AnyRecord] = field(default_factory=dict)
    commands: frozenset[CommandKey] | set[CommandKey] = frozenset()


def decide_batch(
    incoming: list[Incoming],
    current: Mapping[ReferralKey, AnyRecord],
    seen: set[CommandKey],
    now: datetime,
    settings: Settings,
    policy: Policy,
) -> DecidedBatch:
    """Decide each record in order, each seeing what those before it changed. ``seen``: the
    commands, and the addresses of the records, processed already."""
    deciding = Deciding(current, seen, now, settings, policy)
    for item in incoming:
        deciding.take(item)
    return deciding.result()


#: Records decided between two turns of the event loop: 64 take 2 to 4 ms.
DECISION_TURN = 64


async def decide_batch_in_turns(incoming: list[Incoming], deciding: "Deciding") -> DecidedBatch:
    """``decide_batch`` on a ``Deciding`` of the batch's inputs, letting the event loop run
    every ``DECISION_TURN`` records, so that the batch in flight lands meanwhile: its
    write's end seen, its publish sent and acknowledged, its offsets committed."""
    for start in range(0, len(incoming), DECISION_TURN):
        if start:
            await asyncio.sleep(0)
        for item in incoming[start : start + DECISION_TURN]:
            deciding.take(item)
    return deciding.result()


class Deciding:
    """One batch's decision as it goes: the referrals as the records so far left them."""

    def __init__(
        self,
        current: Mapping[ReferralKey, AnyRecord],
        seen: set[CommandKey],
        now: datetime,
        settings: Settings,
        policy: Policy,
    ) -> None:
        self.current = current
        self.latest = dict(current)
        self.changed: set[ReferralKey] = set()
        self.seen = set(seen)
        # Whether any record's address was found processed: rarely, so most batches skip
        # making every record's address to look it up.
        self.addresses_seen = any(key.tenant_id == ADDRESS_TENANT for key in seen)
        self.now = now
        self.settings = settings
        self.policy = policy
        self.structured = settings.event_mode is EventMode.STRUCTURED
        self.fast = FastContext(now, settings, policy)
        self.wire_limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
        self.decided = DecidedBatch()
        #: The records the fast path decided, by their command's key.
        self.fast_decided: dict[CommandKey, Incoming] = {}

    def take(self, item: Incoming) -> None:
        command = item.command
        if self.addresses_seen and address_key(item) in self.seen:  # dead-lettered before a crash
            self._outcome(item, Outcome("", OutcomeKind.DUPLICATE))
        elif command is None:
            assert item.error is not None
            self._dead_letter(item, item.error.code, item.error.message)
        elif (identity := command_key(command)) in self.seen:
            # Whether it is a command at all is the strict reader's to say (its data unread),
            # unless the fast path decided the very same record in this batch.
            if item.fast and not _same_bytes(self.fast_decided.get(identity), item):
                self.take(read_strictly(item, self.wire_limits))
            else:
                self._outcome(item, Outcome(str(command.type), OutcomeKind.DUPLICATE))
        elif item.fast:
            self._take_fast(item, command, identity)
        else:
            try:
                outcome, records, changed = self._decide(item, command)
            except Exception as error:  # the decision is pure: the record alone is to blame
                cause = RecordFailed(Stage.DECIDE, error).describe()
                self._dead_letter(item, DeadLetterCode.PROCESSING_FAILED, cause)
                self.decided.poisoned.append((item, cause))
                return
            self._apply(item, identity, referral_key(command), outcome, records, changed)

    def _take_fast(self, item: Incoming, command: Command, identity: CommandKey) -> None:
        """The fast path's decision (``service.fast``), or the models', reading the record
        as they read it."""
        key = referral_key(command)
        fast = _fast_decision(self.latest.get(key), item, command, self.fast)
        if fast is None:
            self.take(read_strictly(item, self.wire_limits))
            return
        self._apply(item, identity, key, *fast)
        self.decided.fast += 1
        self.fast_decided[identity] = item

    def _decide(
        self, item: Incoming, command: Command
    ) -> tuple[Outcome, list[OutgoingRecord], AnyRecord | None]:
        """The command's outcome, its records and the referral it changed, changing nothing
        in the batch yet."""
        settings, kind = self.settings, str(command.type)
        current = self.latest.get(referral_key(command))
        stored = None if current is None else model_record(current)
        decision = decide(stored, command, self.now, self.policy)
        if isinstance(decision, Applied):
            events = [
                encode_event(
                    event, settings.events_topic, settings.event_source, self.structured, item.trace
                )
                for event in decision.events
            ]
            if not decision.events:
                return Outcome(kind, OutcomeKind.NOOP), [], None
            return (
                Outcome(kind, OutcomeKind.APPLIED, events=decision.events),
                events,
                decision.record,
            )
        rejection = encode_rejection(
            command,
            decision,
            settings.rejections_topic,
            settings.event_source,
            format_utc(self.now),
            self.structured,
            item.trace,
        )
        outcome = Outcome(kind, OutcomeKind.REJECTED, str(decision.code), rejection=decision)
        return outcome, [rejection], None

    def _apply(
        self,
        item: Incoming,
        identity: CommandKey,
        key: ReferralKey,
        outcome: Outcome,
        records: list[OutgoingRecord],
        changed: AnyRecord | None,
    ) -> None:
        if changed is not None:
            self.latest[key] = changed
            self.changed.add(key)
        self.seen.add(identity)
        decided = self.decided
        for record in records:
            decided.write.outbox.append(OutboxEntry(item.partition, record))
        decided.outcomes.append(outcome)
        storable = item.fast or (  # a subject the fast path read is of that shape
            identifier_problem(key.referral_id, self.settings.max_attribute_length) is None
        )
        decided.write.processed.append(
            ProcessedCommand(
                identity.command_id,
                key.referral_id if storable else None,
                str(outcome.outcome),
                identity.tenant_id,
                None if outcome.rejection is None else rejection_reason(outcome.rejection),
            )
        )

    def _dead_letter(self, item: Incoming, code: str, message: str) -> None:
        """The record's dead letter, recorded under its address in the same transaction, so
        that a redelivery after a crash is not dead-lettered again."""
        dead = encode_dead_letter(
            topic=self.settings.dlq_topic,
            key=item.key,
            value=item.value,
            headers=item.headers,
            code=code,
            message=message,
            origin=(item.topic, item.partition, item.offset),
            max_bytes=self.settings.max_record_bytes,
        )
        self.decided.write.outbox.append(OutboxEntry(item.partition, dead))
        kind = item.command.type.value if item.command is not None else ""
        self._outcome(item, Outcome(kind, OutcomeKind.DEAD_LETTERED, code))

    def _outcome(self, item: Incoming, outcome: Outcome) -> None:
        self.decided.outcomes.append(outcome)
        if outcome.outcome is OutcomeKind.DEAD_LETTERED:
            address = address_key(item)
            self.seen.add(address)
            self.decided.write.processed.append(
                ProcessedCommand(address.command_id, None, str(outcome.outcome), address.tenant_id)
            )

    def result(self) -> DecidedBatch:
        self.decided.write.referrals = [
            ReferralWrite.over(self.latest[key], self.current.get(key))
            for key in sorted(self.changed, key=_sortable)
        ]
        return self.decided


def _fast_decision(
    current: AnyRecord | None, item: Incoming, command: Command, context: FastContext
) -> FastDecision | None:
    """The fast path's decision (``service.fast``), or None: the models decide it."""
    try:
        return decide_fast(current, command, item.value, item.data, item.trace, context)
    except Exception:  # the models decide it, and say what is wrong with it if anything
        return None


def _same_bytes(before: Incoming | None, item: Incoming) -> bool:
    """Whether the fast path decided a record of the same bytes as this one: a command, then,
    as the strict reader reads it (the fast path decides only what the models would read and
    decide alike)."""
    return before is not None and before.value == item.value and before.headers == item.headers


def _sortable(key: ReferralKey) -> tuple[str, str]:
    # A stable write order (tenant-less first) keeps concurrent batches from deadlocking.
    return (key.tenant_id or "", key.referral_id)


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
