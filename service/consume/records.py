"""A polled record as the consume side holds it: read once, decoded or not, with where it
came from; and the keys a batch of them asks the store about."""

import time
from dataclasses import replace
from typing import Final

from service.codec import Undecodable, WireLimits, read_command
from service.consume.record_batches import Unreadable
from service.dead_letter_codes import DeadLetterCode
from service.errors import RecordFailed, Stage
from service.fast.reading import FastRead, read_fast
from service.kafka import ConsumedRecord
from service.tenancy import SINGLE_TENANT, Tenancy, established
from state import Command, CommandKey, ReferralKey, command_key, referral_key
from state.limits import identifier_problem
from state.values import value_object

#: The tenant under which a dead-lettered record's address is recorded as processed: a
#: control character, which no tenant id may hold, so no command can take its place.
ADDRESS_TENANT: Final = "\x1f"


@value_object
class Incoming:
    """One consumed record, decoded or not."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    command: Command | None
    error: Undecodable | None
    #: The trace context its producer sent with it, as the codec read it (commands only).
    producer_trace: tuple[tuple[str, str], ...] = ()
    #: The trace context its outcomes carry (traceparent, tracestate), when traced.
    trace: tuple[tuple[str, str], ...] = ()
    #: Read in the canonical form (``service.fast``): ``command`` is without its data, which
    #: is ``data``, as text; the decision decodes it, or reads the record again strictly.
    fast: bool = False
    data: bytes | None = None


def read_record(
    record: ConsumedRecord,
    limits: WireLimits,
    tenancy: Tenancy = SINGLE_TENANT,
    fast_path: bool = True,
) -> Incoming:
    """Decode one polled record, acting as the tenant ``tenancy`` establishes (that of its
    topic, if it has one); never raises (a record that cannot be read is kept as such).
    ``fast_path``: read a command in the canonical form without its data first."""
    headers = tuple(record.headers or ())
    fast = _read_fast(record, headers, limits, tenancy) if fast_path else None
    command: Command | None
    if fast is not None:
        command, error, trace, data = fast.command, None, fast.trace, fast.data
    else:
        command, error, trace = _read_strict(record, headers, limits, tenancy)
        data = None
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
        trace,  # the producer's
        (),
        fast is not None,
        data,
    )


def _read_strict(
    record: ConsumedRecord,
    headers: tuple[tuple[str, bytes | None], ...],
    limits: WireLimits,
    tenancy: Tenancy,
) -> tuple[Command | None, Undecodable | None, tuple[tuple[str, str], ...]]:
    """The command, or why the record is none, and the trace context its producer sent."""
    try:
        decoded, producer_trace = read_command(record.value, headers, limits)
        return established(decoded, record.topic, tenancy), None, producer_trace
    except Undecodable as undecodable:
        return None, undecodable, ()
    except Exception as unexpected:  # decoding is pure: the record alone is to blame
        failed = RecordFailed(Stage.DECODE, unexpected).describe()
        return None, Undecodable(DeadLetterCode.PROCESSING_FAILED, failed), ()


def _read_fast(
    record: ConsumedRecord,
    headers: tuple[tuple[str, bytes | None], ...],
    limits: WireLimits,
    tenancy: Tenancy,
) -> FastRead | None:
    try:
        return read_fast(record.value, headers, record.topic, limits, tenancy)
    except Exception:  # the strict reader reads it, and says what is wrong with it if anything
        return None


def read_strictly(item: Incoming, limits: WireLimits) -> Incoming:
    """A record read in the canonical form, read again by the strict reader, as the tenant
    established for it then."""
    if not item.fast:
        return item
    assert item.command is not None
    tenant = item.command.tenant_id
    try:
        decoded, producer_trace = read_command(item.value, item.headers, limits)
    except Undecodable as undecodable:
        return replace(item, command=None, error=undecodable, fast=False, data=None)
    command = replace(decoded, tenant_id=tenant)
    return replace(item, command=command, producer_trace=producer_trace, fast=False, data=None)


def read_unreadable(found: Unreadable) -> Incoming:
    """A placeholder for a record the Kafka client could not parse: what could be read of it
    (nothing, when the damage is its batch's), to be dead-lettered with the reason."""
    raw = found.record
    where = f"offset {found.offset}"
    if found.last_offset != found.offset:
        where = f"offsets {found.offset} to {found.last_offset} (one damaged batch)"
    error = Undecodable(
        DeadLetterCode.UNREADABLE_RECORD,
        f"the Kafka client cannot read this record, at {where}: {found.reason}",
    )
    if raw is None:
        now_ms = int(time.time() * 1000)
        return Incoming(
            found.topic, found.partition, found.offset, now_ms, None, None, (), None, error
        )
    # Header names are bytes on the wire; the dead letter keeps those that are text.
    headers = tuple((name.decode("utf-8", "surrogateescape"), value) for name, value in raw.headers)
    return Incoming(
        found.topic,
        found.partition,
        found.offset,
        raw.timestamp,
        raw.key,
        raw.value,
        headers,
        None,
        error,
    )


def referral_keys(incoming: list[Incoming], max_length: int) -> set[ReferralKey]:
    """The referrals to load, each in its command's tenant: only ids of a shape the store
    can hold (others are refused)."""
    named = (referral_key(item.command) for item in incoming if item.command is not None)
    return {key for key in named if identifier_problem(key.referral_id, max_length) is None}


def command_keys(incoming: list[Incoming]) -> set[CommandKey]:
    return {command_key(item.command) for item in incoming if item.command is not None}


def address_key(item: Incoming) -> CommandKey:
    """Where the record stands in Kafka, as a key of the processed records: what a dead
    letter is recorded under, so that one record gets one dead letter across crashes (and a
    redriven copy, at another address, is processed afresh)."""
    return CommandKey(ADDRESS_TENANT, f"{item.topic}/{item.partition}/{item.offset}")


def dead_letter_keys(incoming: list[Incoming]) -> set[CommandKey]:
    """The addresses of the records that are dead letters as they stand (not commands)."""
    return {address_key(item) for item in incoming if item.command is None}
