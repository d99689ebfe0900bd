"""The stages one batch goes through: load and decide, write, publish; and beside them,
draining the outbox's backlog and dead-lettering a poison record.

Each stage raises what fails in it as the ``RecordFailed`` of its ``Stage`` (it may be a
record's fault), and an outage as it is (to be retried): the caller never tracks where it
is. ``tried`` turns a stage's failure into a value for the callers that decide beside a
batch in flight.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TypeVar

from service.consume.decision import (
    Assumed,
    DecidedBatch,
    Deciding,
    decide_batch_in_turns,
    policy_of,
)
from service.consume.ownership import Partitions
from service.consume.publisher import OutboxPublisher
from service.consume.recent import RecentReferrals
from service.consume.records import (
    Incoming,
    address_key,
    command_keys,
    dead_letter_keys,
    referral_keys,
)
from service.consume.tracing import Tracing
from service.dead_letter_codes import DeadLetterCode
from service.dead_letters import encode_dead_letter, encode_minimal_dead_letter
from service.errors import RecordFailed, Stage, StaleWrite, failing_as, is_outage
from service.fast.referral import AnyRecord
from service.health import Health
from service.metrics import Metrics
from service.outcomes import OutcomeKind
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, ProcessedCommand, ReadReferral, Store
from state import CommandKey, CommandType, ReferralKey, referral_key

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
T = TypeVar("T")


async def tried(work: Awaitable[T]) -> T | RecordFailed | None:
    """The result of a stage; if it failed, None for an outage (the batch is then handled
    in order, with retries), else the failure, which may be a record's."""
    try:
        return await work
    except RecordFailed as failure:
        return failure
    except Exception as error:
        if not is_outage(error):
            raise
        log.info("batch to be handled in order", extra={"error": str(error)})
        return None


class BatchStages:
    """The stages, over the store, the publisher and the cache of recent referrals."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        publisher: OutboxPublisher,
        recent: RecentReferrals,
        partitions: Partitions,
        metrics: Metrics,
        health: Health,
        tracing: Tracing,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.recent = recent
        self.partitions = partitions
        self.metrics = metrics
        self.health = health
        self.tracing = tracing
        self.clock = clock
        self.policy = policy_of(settings)
        #: Whether the next batch's load asks the store (after a write was refused).
        self._read_next = False

    def _unheld(
        self,
        incoming: list[Incoming],
        wanted: set[ReferralKey],
        cached: Mapping[ReferralKey, AnyRecord],
        assumed: Assumed,
    ) -> set[ReferralKey] | None:
        """The referrals of the batch this loop does not hold, the only ones the store is
        asked for: neither held nor created by the batch's first command on them (the write
        refuses the batch if the store holds other than what the loop took). None when
        the batch is read whole: a record that is no command, found by its address."""
        if not self.recent.capacity or any(item.command is None for item in incoming):
            return None
        first: dict[ReferralKey, CommandType] = {}
        for item in incoming:
            assert item.command is not None
            first.setdefault(referral_key(item.command), item.command.type)
        return {
            key
            for key in wanted
            if key not in cached
            and key not in assumed.referrals
            and first.get(key) is not CommandType.CREATE
        }

    async def process(self, incoming: list[Incoming]) -> None:
        """One attempt at a batch in order: any backlog first, then every stage, on what the
        store holds."""
        await self.drain()
        if incoming:
            decided = await self.decide(incoming, read_store=True)
            stored = await self.write(decided)
            await self.publish(stored)
            self.settle(incoming, decided)

    async def decide(
        self, incoming: list[Incoming], assumed: Assumed | None = None, *, read_store: bool = False
    ) -> DecidedBatch:
        """Load what the batch names, then decide it, taking ``assumed`` as stored; the
        store is asked only for the referrals this loop does not hold (``RecentReferrals``),
        or for all of it with ``read_store``."""
        assumed = assumed or Assumed()
        wanted = referral_keys(incoming, self.settings.max_attribute_length)
        with failing_as(Stage.STORE):
            current, seen = await self._load(incoming, wanted, assumed, read_store)
        now = self.clock()
        decided = await self._decided(incoming, current, seen, now)
        poisoned = {address_key(item) for item, _ in decided.poisoned}
        if poisoned:
            # Dead-lettered before a crash? Only such a batch asks (no other pays for it).
            with failing_as(Stage.STORE):
                _, again = await self.store.load_batch(set(), poisoned - assumed.commands, {})
            again |= poisoned & assumed.commands
            if again:
                decided = await self._decided(incoming, current, seen | again, now)
        written = {write.record.key for write in decided.write.referrals}
        decided.write.read = _as_read(wanted - written, current)
        for item, cause in decided.poisoned:
            with self.tracing.command(item):
                _log_poison(item, cause)
        return decided

    async def _decided(
        self,
        incoming: list[Incoming],
        current: dict[ReferralKey, AnyRecord],
        seen: set[CommandKey],
        now: datetime,
    ) -> DecidedBatch:
        with failing_as(Stage.DECIDE), self.metrics.timed("decide"):
            deciding = Deciding(current, seen, now, self.settings, self.policy)
            return await decide_batch_in_turns(incoming, deciding)

    async def _load(
        self,
        incoming: list[Incoming],
        wanted: set[ReferralKey],
        assumed: Assumed,
        read_store: bool,
    ) -> tuple[dict[ReferralKey, AnyRecord], set[CommandKey]]:
        commands = command_keys(incoming) | dead_letter_keys(incoming)
        recent = self.recent.view()
        # Only what this batch names: the cache changes as the batch in flight lands.
        cached = {key: recent[key] for key in wanted if key in recent}
        ahead = {key: assumed.referrals[key] for key in wanted & assumed.referrals.keys()}
        if not (read_store or self._read_next):
            unheld = self._unheld(incoming, wanted, cached, assumed)
            if unheld is not None:
                # A command processed here lately, or in flight, is a duplicate; any other
                # is taken as new.
                seen = self.recent.processed(commands) | (assumed.commands & commands)
                return {**cached, **await self._load_unheld(unheld), **ahead}, seen
        self._read_next = False
        self.metrics.batch_loads.labels("read").inc()
        with self.metrics.timed("load"):
            current, seen = await self.store.load_batch(
                wanted - assumed.referrals.keys(), commands - assumed.commands, cached
            )
        self.recent.keep(current.values())
        return {**current, **ahead}, seen | (assumed.commands & commands)

    async def _load_unheld(self, unheld: set[ReferralKey]) -> dict[ReferralKey, AnyRecord]:
        """The stored referrals of ``unheld`` (none asked for: the load skipped)."""
        if not unheld:
            self.metrics.batch_loads.labels("skipped").inc()
            return {}
        self.metrics.batch_loads.labels("partial").inc()
        with self.metrics.timed("load"):
            found, _ = await self.store.load_batch(unheld, set(), {})
        self.recent.keep(found.values())
        return found

    async def write(self, decided: DecidedBatch) -> list[OutboxEntry]:
        """The batch's one transaction; the outbox entries it stored."""
        writing = self.tracing.span("referrals store write", len(decided.write.outbox))
        try:
            with failing_as(Stage.STORE), writing, self.metrics.timed("write"):
                stored = await self.store.write(decided.write)
        except StaleWrite:
            # What this loop held was not what the store holds: decide on the store's.
            self.recent.forget()
            self._read_next = True
            raise
        self.health.store_ok = True
        return stored

    async def publish(self, stored: list[OutboxEntry]) -> None:
        """Publish what a batch stored."""
        publishing = self.tracing.span("referrals publish", len(stored))
        with failing_as(Stage.PUBLISH), publishing, self.metrics.timed("publish"):
            await self.publisher.publish(stored)

    def settle(self, incoming: list[Incoming], decided: DecidedBatch) -> None:
        """What follows a batch that landed (written and published): its referrals and
        commands held for the next decisions, its outcomes counted."""
        self.recent.keep(write.record for write in decided.write.referrals)
        self.recent.keep_commands(decided.processed_keys())
        oldest = min((item.timestamp_ms for item in incoming), default=None)
        self.metrics.report(decided.outcomes, oldest)

    async def drain(self) -> None:
        """Publish the outbox's backlog, when it may hold rows no batch in hand owns."""
        if not self.partitions.backlog_possible:
            return
        with failing_as(Stage.PUBLISH):
            await self.publisher.publish(None)
        self.health.store_ok = True
        self.partitions.drained()

    async def dead_letter(
        self, item: Incoming, failure: RecordFailed, *, minimal: bool = False
    ) -> None:
        """Store and publish a poison record's dead letter (``minimal``: the smallest one,
        for when the copy cannot be stored or published), recorded under the record's
        address in the same transaction; a record dead-lettered already (before a crash) is
        not dead-lettered again."""
        address = address_key(item)
        with failing_as(Stage.STORE):
            _, seen = await self.store.load_batch(set(), {address}, {})
        if seen:
            return
        encode = encode_minimal_dead_letter if minimal else encode_dead_letter
        record = encode(
            topic=self.settings.dlq_topic,
            key=item.key,
            value=item.value,
            headers=item.headers,
            code=DeadLetterCode.PROCESSING_FAILED,
            message=failure.describe(),
            origin=(item.topic, item.partition, item.offset),
            max_bytes=self.settings.max_record_bytes,
        )
        dead = OutcomeKind.DEAD_LETTERED.value
        write = BatchWrite(
            processed=[ProcessedCommand(address.command_id, None, dead, address.tenant_id)],
            outbox=[OutboxEntry(item.partition, record)],
        )
        with failing_as(Stage.STORE):
            stored = await self.store.write(write)
        with failing_as(Stage.PUBLISH):
            await self.publisher.publish(stored)
        command_type = item.command.type.value if item.command else ""
        self.metrics.report_poison(failure.stage, command_type)
        _log_poison(item, failure.describe())


def _as_read(
    keys: set[ReferralKey], current: Mapping[ReferralKey, AnyRecord]
) -> list[ReadReferral]:
    """The referrals of ``keys`` as the decision read them (``current``, which deciding
    leaves as it is), each at its version (0: absent)."""
    return [
        ReadReferral(key.tenant_id, key.referral_id, current[key].version if key in current else 0)
        for key in keys
    ]


def _log_poison(item: Incoming, cause: str) -> None:
    where = {"topic": item.topic, "partition": item.partition, "offset": item.offset}
    log.error("poison record dead-lettered", extra={**where, "cause": cause})
