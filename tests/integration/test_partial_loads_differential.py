"""A loop that holds referrals and commands decides exactly as one that reads everything.

The same generated stream (creates, patches, moves, refusals of unknown referrals,
duplicates) goes in random batches through the batch stages twice, on a store of each
kind: once with no cache (every batch read whole from the store), once with the cache (a
batch asks only for the referrals it does not hold, and takes commands it did not process
lately as new) and each write built ahead of it (``Store.prepare``). Between batches
another replica, the same in both runs, renames, accepts or declines a stored referral
and processes a command the stream sends later, and moves are sent on referrals named
before (no-ops and refusals decided on what the loop holds).
Every published record and every stored referral must be the same, byte for byte. Seeded
and bounded.
"""

import contextlib
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bench.workload import Record, command_stream, encoded_command
from service.codec import OutgoingRecord, WireLimits
from service.consume.decision import DecidedBatch
from service.consume.ownership import Partitions
from service.consume.recent import RecentReferrals
from service.consume.records import Incoming, read_record
from service.consume.stages import BatchStages
from service.consume.tracing import Tracing
from service.errors import StaleWrite
from service.health import Health
from service.kafka import PolledRecord
from service.metrics import Metrics
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, ProcessedCommand, ReferralWrite, Store
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore
from state import Applied, Command, CommandType, ReferralKey, decide
from tests.support.postgres import fresh_postgres_database

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SEEDS = (20261207, 7, 99, 1, 2)
#: Opens a store on the run's database: the run's own, or another replica's beside it.
Opening = Callable[[], Store]


class Acknowledging:
    """The publisher as the stages see it: the store's ordered publish, every entry
    acknowledged, the records kept in the order they went."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records: list[OutgoingRecord] = []

    async def publish(self, entries: list[OutboxEntry] | None) -> None:
        async def settle(batch: list[OutboxEntry]) -> list[int]:
            self.records.extend(entry.record for entry in batch)
            return [entry.seq for entry in batch]

        await self.store.publish_in_order(entries, settle)


def stages_over(store: Store, publisher: Acknowledging, cache: int) -> BatchStages:
    return BatchStages(
        Settings(),
        store,
        publisher,  # type: ignore[arg-type]
        RecentReferrals(cache),
        Partitions(),
        Metrics(CollectorRegistry()),
        Health(stall_seconds=60),
        Tracing(None),
        lambda: NOW,
    )


async def land(stages: BatchStages, incoming: list[Incoming], prepare: bool) -> None:
    """A batch as the loop lands it: decided on what the loop holds, and on the store's
    state when the write refuses that; ``prepare``: its write built ahead, as the loop does
    where the store writes beside the decisions."""
    decided: DecidedBatch = await stages.decide(incoming)
    if prepare:
        stages.store.prepare(decided.write)
    try:
        stored = await stages.write(decided)
    except StaleWrite:
        decided = await stages.decide(incoming, read_store=True)
        stored = await stages.write(decided)
    await stages.publish(stored)
    stages.settle(incoming, decided)


@dataclass(frozen=True)
class Elsewhere:
    """Another replica's work between two batches: ``change`` applied to ``referral_id``
    where the store holds it, and ``processed`` (a command the stream sends later) recorded
    as processed there."""

    referral_id: str
    change: CommandType
    processed: Record | None


Step = list[Record] | Elsewhere
MOVES = (CommandType.ACCEPT, CommandType.DECLINE, CommandType.WIN, CommandType.LOSE)


def plan(seed: int) -> list[Step]:
    """The bench mix of ``seed`` in random batches, with another replica's work between
    some of them, and now and then a lifecycle command on a referral named before (a
    no-op, a refusal or a change, depending on what the store holds)."""
    stream = command_stream(seed, 40, f"diff{seed}", in_flight=8)
    rng = random.Random(seed)
    steps: list[Step] = []
    named: list[str] = []
    at = 0
    while at < len(stream):
        size = rng.choice((1, 2, 3, 7, 20, 60))
        batch, at = list(stream[at : at + size]), at + size
        named += [record.key.decode() for record in batch]
        moved = rng.choice(named)
        if rng.random() < 0.3:
            kind = rng.choice((CommandType.PATCH, CommandType.ACCEPT, CommandType.DECLINE))
            later = rng.choice(stream[at : at + 40]) if at < len(stream) else None
            steps.append(Elsewhere(moved, kind, later))
        if rng.random() < 0.4:  # most often on what the other replica just changed
            move = rng.choice((*MOVES, CommandType.ACCEPT))  # accept: a no-op if Active
            batch.insert(
                0, encoded_command(rng, f"moved-{rng.randrange(10**9)}", move, moved, None, "?")
            )
        steps.append(batch)
    return steps


async def behind_the_back(other: Store, work: Elsewhere) -> None:
    if work.processed is not None:
        record = work.processed
        done = ProcessedCommand(record.command_id, record.key.decode(), "applied")
        with contextlib.suppress(StaleWrite):  # processed already (a duplicate's id)
            await other.write(BatchWrite(processed=[done]))
    key = ReferralKey(None, work.referral_id)
    stored = (await other.load([key])).get(key)
    if stored is None:
        return
    patch = [{"op": "replace", "path": "/name", "value": f"Renamed {stored.version}"}]
    change = Command(
        type=work.change,
        command_id=f"elsewhere-{work.referral_id}-{stored.version}",
        referral_id=work.referral_id,
        data=patch if work.change is CommandType.PATCH else None,
    )
    decision = decide(stored, change, NOW)
    if isinstance(decision, Applied):
        await other.write(BatchWrite(referrals=[ReferralWrite(decision.record, stored.version)]))


async def one_run(
    steps: list[Step], opening: Opening, cache: int
) -> tuple[list[bytes], list[object]]:
    """The planned steps through the stages; the records published (each as its topic,
    key, value and headers) and the stored referrals they name, as (id, version, document)."""
    settings = Settings()
    limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
    store, other = opening(), opening()
    await store.open()
    await other.open(migrate=False)
    publisher = Acknowledging(store)
    stages = stages_over(store, publisher, cache)
    offset = 0
    try:
        for step in steps:
            if isinstance(step, Elsewhere):
                await behind_the_back(other, step)
                continue
            polled = [
                PolledRecord("commands", 0, offset + n, 0, r.key, r.value, r.headers)
                for n, r in enumerate(step)
            ]
            offset += len(step)
            await land(stages, [read_record(record, limits) for record in polled], bool(cache))
        keys = {
            ReferralKey(None, record.key.decode())
            for step in steps
            if not isinstance(step, Elsewhere)
            for record in step
        }
        stored = await store.load(keys)
    finally:
        await other.close()
        await store.close()
    loads = {
        kind: stages.metrics.batch_loads.labels(kind)._value.get()
        for kind in ("read", "partial", "skipped")
    }
    if cache:  # the run exercised the paths it is compared for
        assert loads["partial"] > 0, loads
        assert loads["skipped"] > 0, loads
    else:
        assert loads["partial"] == loads["skipped"] == 0, loads
    published = [repr((r.topic, r.key, r.value, r.headers)).encode() for r in publisher.records]
    states = [
        (key.referral_id, stored[key].version, stored[key].referral.model_dump_json())
        for key in sorted(stored, key=lambda k: k.referral_id)
    ]
    return published, states


async def compare(opening_for: Callable[[str], Opening]) -> None:
    for seed in SEEDS:
        steps = plan(seed)
        read_whole = await one_run(steps, opening_for(f"whole-{seed}"), cache=0)
        held = await one_run(steps, opening_for(f"held-{seed}"), cache=5000)
        assert held[1] == read_whole[1], f"stored referrals differ, seed {seed}"
        assert held[0] == read_whole[0], f"published records differ, seed {seed}"


async def test_sqlite_a_loop_holding_referrals_decides_as_one_reading_everything(
    tmp_path: Path,
) -> None:
    await compare(lambda name: lambda: SqliteStore(tmp_path / f"{name}.db"))


@asynccontextmanager
async def databases() -> AsyncIterator[Callable[[str], Opening]]:
    """Two fresh PostgreSQL databases, dropped after the block: one for the runs reading
    whole, one for those holding (each seed's referrals and commands have ids of their own,
    so the seeds' runs share them)."""
    async with fresh_postgres_database() as whole, fresh_postgres_database() as held:
        yield lambda name: lambda: PostgresStore(whole if name.startswith("whole") else held)


@pytest.mark.postgres
async def test_postgres_a_loop_holding_referrals_decides_as_one_reading_everything() -> None:
    async with databases() as opening_for:
        await compare(opening_for)
