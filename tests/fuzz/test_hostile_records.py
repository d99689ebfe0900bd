"""No record can break the pipeline: hostile records of every family, decode to store.

Each record goes through what the consume loop does with it: decode, decide (against a
stored referral), encode, one store transaction, and a read back. Whatever it holds, it
must end in exactly one documented outcome (applied, no-op, rejection with a known code,
dead letter with a known code), nothing else may be raised, every outgoing record must
fit in ``max_record_bytes``, what is applied must come back from the store and through
the codec unchanged, and no record may take long. Seeded and bounded (hypothesis).
"""

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from service.codec import WireLimits, read_cloudevent
from service.consume.decision import DecidedBatch, decide_batch, policy_of
from service.consume.records import Incoming, read_record, read_strictly
from service.dead_letter_codes import DeadLetterCode
from service.dead_letters import record_bytes
from service.jsonio import loads
from service.kafka import PolledRecord
from service.settings import Settings
from service.store import BatchWrite, PostgresStore, ReferralWrite, SqliteStore, Store
from service.store.rows import referral_document
from state import Applied, Command, CommandType, EventType, ReferralRecord, RejectionCode, decide
from tests.fuzz.hostile import (
    BASE_DOCUMENT,
    REFERRAL_ID,
    Record,
    hostile_records,
    misspelled_attributes,
    repeated_headers,
)
from tests.support.postgres import fresh_postgres_database

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SETTINGS = Settings(max_command_bytes=1_048_576)
POLICY = policy_of(SETTINGS)
WIRE = WireLimits(SETTINGS.max_command_bytes, SETTINGS.max_attribute_length)
#: What decoding may answer: every code but those of the client and the outbox.
DEAD_LETTER_CODES = set(DeadLetterCode) - {
    DeadLetterCode.UNREADABLE_RECORD,
    DeadLetterCode.PUBLISH_REFUSED,
}
REJECTION_CODES = {code.value for code in RejectionCode}
#: Wall time one record may take through decode, decide and encode, on a slow machine.
BOUND_SECONDS = 2.0


def stored_referral() -> ReferralRecord:
    create = Command(
        type=CommandType.CREATE, command_id="seed", referral_id=REFERRAL_ID, data=BASE_DOCUMENT
    )
    decision = decide(None, create, NOW, POLICY)
    assert isinstance(decision, Applied), decision
    return decision.record


BASE = stored_referral()
EVENT_TYPES = frozenset(member.value for member in EventType)


def incoming(record: Record, fast_path: bool = True) -> Incoming:
    """The record as the consume loop reads it (in the canonical form first, by default)."""
    value, headers = record
    polled = PolledRecord("commands", 0, 7, 0, b"k", value, headers)
    return read_record(polled, WIRE, fast_path=fast_path)


def decided_for(record: Record, fast_path: bool = True) -> tuple[Incoming, DecidedBatch]:
    """The record decided, and read as the strict reader reads it (the fast path leaves
    what it does not read to that reader)."""
    started = time.perf_counter()
    item = incoming(record, fast_path)
    decided = decide_batch([item], {BASE.key: BASE}, set(), NOW, SETTINGS, POLICY)
    assert time.perf_counter() - started < BOUND_SECONDS
    return read_strictly(item, WIRE), decided


def assert_the_models_decide_the_same(record: Record, decided: DecidedBatch) -> None:
    """The fast path leaves what the models alone leave, byte for byte."""
    _, by_models = decided_for(record, fast_path=False)
    assert [(o.command_type, o.outcome, o.code, len(o.events)) for o in decided.outcomes] == [
        (o.command_type, o.outcome, o.code, len(o.events)) for o in by_models.outcomes
    ]
    assert decided.write.outbox == by_models.write.outbox
    assert [referral_document(w.record) for w in decided.write.referrals] == [
        referral_document(w.record) for w in by_models.write.referrals
    ]
    assert decided.write.processed == by_models.write.processed


def assert_one_documented_outcome(item: Incoming, decided: DecidedBatch) -> None:
    assert len(decided.outcomes) == 1
    outcome = decided.outcomes[0]
    outbox = decided.write.outbox
    if item.command is None:
        assert outcome.outcome == "dead-lettered"
        assert outcome.code in DEAD_LETTER_CODES
        assert [entry.record.kind for entry in outbox] == ["dead-letter"]
        headers = dict(outbox[0].record.headers)
        assert headers["x-error-code"].decode() == outcome.code
        if "x-truncated" not in headers:
            assert outbox[0].record.value == item.value
    elif outcome.outcome == "rejected":
        assert outcome.code in REJECTION_CODES
        assert [entry.record.kind for entry in outbox] == ["referral.command.rejected"]
    elif outcome.outcome == "applied":
        assert len(outcome.events) == 1
        assert len(decided.write.referrals) == 1
    else:
        assert outcome.outcome == "noop"
        assert outbox == []
        assert decided.write.referrals == []
    for entry in outbox:
        record = entry.record
        assert record_bytes(record.key, record.value, record.headers) <= SETTINGS.max_record_bytes


def assert_event_round_trips(decided: DecidedBatch) -> None:
    """An event carries the referral as it is stored, and reads back as it was written."""
    events = [entry.record for entry in decided.write.outbox if entry.record.kind in EVENT_TYPES]
    assert len(events) == len(decided.write.referrals)
    for record, write in zip(events, decided.write.referrals, strict=True):
        event = read_cloudevent(record.value, record.headers)
        assert event["data"]["referral"] == loads(referral_document(write.record))


FUZZ = settings(
    max_examples=2500,
    deadline=None,  # time is asserted per record above, with a bound for slow machines
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    database=None,
)


@FUZZ
@seed(20261124)
@given(record=hostile_records)
def test_every_hostile_record_ends_in_one_documented_outcome(record: Record) -> None:
    item, decided = decided_for(record)
    assert_one_documented_outcome(item, decided)
    assert_event_round_trips(decided)
    assert_the_models_decide_the_same(record, decided)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@seed(20261127)
@given(record=misspelled_attributes())
def test_an_attribute_in_another_case_is_refused_in_either_mode(record: Record) -> None:
    item = incoming(record)
    assert item.error is not None
    assert item.error.code == DeadLetterCode.MISSPELLED_ATTRIBUTE


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@seed(20261128)
@given(record=repeated_headers())
def test_a_ce_or_content_type_header_given_twice_is_refused(record: Record) -> None:
    item = incoming(record)
    assert item.error is not None
    assert item.error.code == DeadLetterCode.DUPLICATE_ATTRIBUTE


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    yield running
    running.close()


async def write_and_read_back(store: Store, decided: DecidedBatch) -> None:
    await store.write(BatchWrite(referrals=[ReferralWrite(BASE, 0)]))
    await store.write(decided.write)
    for write in decided.write.referrals:
        stored = await store.get(write.record.referral_id, write.record.tenant_id)
        assert stored is not None
        assert referral_document(stored) == referral_document(write.record)
    pending = await store.pending()
    assert [entry.record for entry in pending] == [entry.record for entry in decided.write.outbox]


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])  # fmt: skip
@seed(20261125)
@given(record=hostile_records, number=st.integers(0, 10**9))
def test_what_a_hostile_record_leaves_round_trips_through_sqlite(
    record: Record, number: int, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    _, decided = decided_for(record)

    async def scenario() -> None:
        store = SqliteStore(tmp_path / f"fuzz-{number}-{time.monotonic_ns()}.db")
        await store.open()
        try:
            await write_and_read_back(store, decided)
        finally:
            await store.close()

    loop.run_until_complete(scenario())


@pytest.mark.postgres
@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])  # fmt: skip
@seed(20261126)
@given(record=hostile_records)
def test_what_a_hostile_record_leaves_round_trips_through_postgresql(
    record: Record, postgres_store: tuple[Store, asyncio.AbstractEventLoop]
) -> None:
    store, loop = postgres_store
    _, decided = decided_for(record)

    async def scenario() -> None:
        await store.forget_processed(datetime.max.replace(tzinfo=UTC))
        for stored in await store.pending():
            await store.mark_published([stored.seq])
        await wipe_referrals(store)
        await write_and_read_back(store, decided)

    loop.run_until_complete(scenario())


async def wipe_referrals(store: Store) -> None:
    assert isinstance(store, PostgresStore)
    connection = await asyncpg.connect(store.url)
    try:
        await connection.execute("TRUNCATE referrals")
    finally:
        await connection.close()


@pytest.fixture
def postgres_store(
    loop: asyncio.AbstractEventLoop,
) -> Iterator[tuple[Store, asyncio.AbstractEventLoop]]:
    database = fresh_postgres_database()
    url = loop.run_until_complete(database.__aenter__())
    store = PostgresStore(url)
    loop.run_until_complete(store.open())
    try:
        yield store, loop
    finally:
        loop.run_until_complete(store.close())
        loop.run_until_complete(database.__aexit__(None, None, None))
