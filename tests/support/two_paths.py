"""Deciding a stream of records both ways, the models' path alone and the fast path first,
and what each way leaves: every outgoing record, stored document and outcome."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from service.codec import WireLimits
from service.consume.decision import decide_batch, policy_of
from service.consume.records import read_record
from service.kafka import PolledRecord
from service.settings import Settings
from service.store.rows import referral_document
from service.tenancy import SINGLE_TENANT, Tenancy
from state import CommandKey, ReferralKey


@dataclass(slots=True)
class Left:
    """What deciding a stream left, comparable between the two ways."""

    records: list[tuple[Any, ...]] = field(default_factory=list)
    documents: list[tuple[Any, ...]] = field(default_factory=list)
    outcomes: list[tuple[str, str, str]] = field(default_factory=list)
    processed: list[tuple[Any, ...]] = field(default_factory=list)
    #: The trace context the producer of each record read as a command sent, by the
    #: record's address (what tracing follows).
    traces: dict[tuple[str, int, int], tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: How many records were read in the canonical form, and how many the fast path decided.
    fast: int = 0
    decided_fast: int = 0

    def comparable(self) -> tuple[Any, ...]:
        return self.records, self.documents, self.outcomes, self.processed


def decide_stream(
    polled: Sequence[PolledRecord],
    settings: Settings,
    now: datetime,
    batch_sizes: Sequence[int] = (500,),
    tenancy: Tenancy = SINGLE_TENANT,
    fast_path: bool = True,
) -> Left:
    """Decide ``polled`` in batches of the given sizes (the last repeated), each seeing what
    those before it stored."""
    limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
    policy = policy_of(settings)
    stored: dict[ReferralKey, Any] = {}
    seen: set[CommandKey] = set()
    left = Left()
    start, sizes = 0, list(batch_sizes)
    while start < len(polled):
        size = sizes.pop(0) if len(sizes) > 1 else sizes[0]
        batch = [read_record(r, limits, tenancy, fast_path) for r in polled[start : start + size]]
        start += size
        left.fast += sum(1 for item in batch if item.fast)
        left.traces.update(
            ((item.topic, item.partition, item.offset), item.producer_trace)
            for item in batch
            if item.command is not None
        )
        decided = decide_batch(batch, stored, seen, now, settings, policy)
        left.decided_fast += decided.fast
        left.records += [
            (e.source_partition, e.record.topic, e.record.key, e.record.value, e.record.headers,
             e.record.kind)
            for e in decided.write.outbox
        ]  # fmt: skip
        left.documents += [
            (w.record.key, w.expected_version, referral_document(w.record))
            for w in decided.write.referrals
        ]
        left.outcomes += [(o.command_type, str(o.outcome), o.code) for o in decided.outcomes]
        left.processed += [
            (p.tenant_id, p.command_id, p.referral_id, p.outcome, p.rejection)
            for p in decided.write.processed
        ]
        stored.update({w.record.key: w.record for w in decided.write.referrals})
        seen.update(CommandKey(p.tenant_id, p.command_id) for p in decided.write.processed)
    return left


def same_traces(models: Left, fast: Left) -> bool:
    """Whether every record the models read as a command was read with the same trace
    context by the fast path (which may read a command the models then refuse for its
    data, where the models read none)."""
    return all(fast.traces.get(address) == trace for address, trace in models.traces.items())


def both_ways(
    polled: Sequence[PolledRecord],
    settings: Settings,
    now: datetime,
    batch_sizes: Sequence[int] = (500,),
    tenancy: Tenancy = SINGLE_TENANT,
) -> tuple[Left, Left]:
    """(the models' way, the fast path's way)."""
    return (
        decide_stream(polled, settings, now, batch_sizes, tenancy, fast_path=False),
        decide_stream(polled, settings, now, batch_sizes, tenancy, fast_path=True),
    )


def stored_records(polled: Sequence[PolledRecord], settings: Settings | None = None) -> list[Any]:
    """The referrals a stream leaves, as the decision hands them to the store."""
    settings = settings or Settings()
    limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
    stored: dict[ReferralKey, Any] = {}
    for record in polled:
        item = read_record(record, limits)
        decided = decide_batch([item], stored, set(), datetime.now(UTC), settings,
                               policy_of(settings))  # fmt: skip
        stored.update({w.record.key: w.record for w in decided.write.referrals})
    return list(stored.values())
