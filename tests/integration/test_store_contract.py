"""One contract for every store backend, run against real SQLite files and real PostgreSQL."""

import asyncio
import contextlib
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from service.codec import OutgoingRecord
from service.errors import ConfigurationError, StaleWrite
from service.fast.referral import FastRecord
from service.store import (
    BatchWrite,
    OutboxEntry,
    PostgresStore,
    ProcessedCommand,
    ReferralWrite,
    SqliteStore,
    Store,
)
from service.store.base import COUNT_BY_STATE
from service.store.migrations import MIGRATIONS, migrate
from service.store.query import FIELDS, Comparison, ReferralQuery, TeamMember
from service.store.rows import referral_document
from service.store.sqlite_schema import SCHEMA_VERSION
from state import Applied, Command, CommandKey, CommandType, ReferralKey, ReferralRecord, decide
from tests.support.legacy_schemas import SQLITE_VERSION_1

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def created(referral_id: str, tenant: str | None = None, **data: object) -> ReferralRecord:
    command = Command(
        type=CommandType.CREATE,
        command_id=f"create-{referral_id}",
        referral_id=referral_id,
        data={"name": referral_id, **data},
        tenant_id=tenant,
    )
    decision = decide(None, command, NOW)
    assert isinstance(decision, Applied)
    return decision.record


def moved(record: ReferralRecord, kind: CommandType) -> ReferralRecord:
    command = Command(type=kind, command_id=f"{kind}-{record.referral_id}",
                      referral_id=record.referral_id, tenant_id=record.tenant_id)  # fmt: skip
    decision = decide(record, command, NOW)
    assert isinstance(decision, Applied)
    return decision.record


def outgoing(n: int, key: bytes | None = b"k", value: bytes | None = b"v") -> OutgoingRecord:
    headers = (("ce_id", f"id-{n}".encode()), ("raw", bytes([0, 255, n % 256])))
    return OutgoingRecord("events", key, value, headers, "referral.created")


async def test_a_written_referral_loads_back_equal(store: Store) -> None:
    record = created("r1", tenant="org-a", details={"dealValue": "12.30", "currency": "EUR"})

    await store.write(BatchWrite(referrals=[ReferralWrite(record, 0)]))

    key = ReferralKey("org-a", "r1")
    loaded = await store.load([key, ReferralKey("org-a", "unknown")])
    assert list(loaded) == [key]
    assert loaded[key].referral.to_document() == record.referral.to_document()
    assert loaded[key].tenant_id == "org-a"
    assert await store.get("r1", "org-a") == loaded[key]


async def _count_plan(store: Store) -> str:
    """How the store's database would run the count of referrals per state."""
    if isinstance(store, SqliteStore):
        with contextlib.closing(sqlite3.connect(store.path)) as db:
            return " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {COUNT_BY_STATE}"))
    assert isinstance(store, PostgresStore)
    db = await asyncpg.connect(store.url)
    try:
        await db.execute("SET enable_seqscan = off")  # a table this small would be read whole
        # An index built over rows that were updated in place is usable only by transactions
        # newer than every one running when it was built (pg_index.indcheckxmin), in any
        # database of the server: another test's open transaction can hold it back a moment.
        deadline = time.monotonic() + 30
        while True:
            await db.execute("VACUUM ANALYZE referrals")  # as autovacuum leaves it at rest
            plan = " ".join(row[0] for row in await db.fetch(f"EXPLAIN {COUNT_BY_STATE}"))
            if "Index" in plan or time.monotonic() > deadline:
                return plan
            await asyncio.sleep(0.2)  # a horizon to pass, with no event to await
    finally:
        await db.close()


async def test_the_referrals_per_state_are_counted_from_the_state_alone(store: Store) -> None:
    """The count reads an index entry per referral, not every row with its document (at
    1,000,000 referrals on SQLite, 0.15 s against 1.5)."""
    records = [created(f"r{n}", team=[{"email": f"p{n}@partner.example"}]) for n in range(3)]
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in records]))
    await store.write(
        BatchWrite(referrals=[ReferralWrite(moved(records[0], CommandType.ACCEPT), 1)])
    )

    assert await store.count_by_state() == {("New", "Pending"): 2, ("Active", "Accepted"): 1}
    plan = await _count_plan(store)
    assert "referrals_by_state" in plan
    assert ("COVERING INDEX" if isinstance(store, SqliteStore) else "Index Only Scan") in plan


async def test_a_referral_id_is_scoped_by_tenant_and_tenant_less_is_a_namespace(
    store: Store,
) -> None:
    mine, theirs, none = created("r1", tenant="org-a"), created("r1", tenant="org-b"), created("r1")

    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in (mine, theirs, none)]))
    await store.write(BatchWrite(referrals=[ReferralWrite(moved(theirs, CommandType.WIN), 1)]))

    loaded = await store.load([mine.key, theirs.key, none.key, ReferralKey("org-c", "r1")])
    assert set(loaded) == {mine.key, theirs.key, none.key}
    assert loaded[mine.key].state == mine.state
    assert loaded[theirs.key].referral.status == "Closed"
    assert (await store.get("r1")) == loaded[none.key]
    assert await store.get("r1", "org-c") is None
    assert await store.count_by_state() == {("New", "Pending"): 2, ("Closed", "Won"): 1}
    with pytest.raises(StaleWrite):
        await store.write(BatchWrite(referrals=[ReferralWrite(moved(mine, CommandType.LOSE), 2)]))


async def test_a_batch_load_reads_only_referrals_not_cached_at_their_stored_version(
    store: Store,
) -> None:
    first, second, third = created("r1", "org-a"), created("r2"), created("r3")
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in (first, second, third)]))
    accepted = moved(second, CommandType.ACCEPT)
    processed = [
        ProcessedCommand("c1", "r2", "applied"),
        ProcessedCommand("c1", "r1", "applied", "org-a"),
    ]
    await store.write(BatchWrite(referrals=[ReferralWrite(accepted, 1)], processed=processed))
    cached = {first.key: first, second.key: second}  # r2 is cached one version behind

    loaded, seen = await store.load_batch(
        [first.key, second.key, third.key, ReferralKey(None, "missing")],
        [CommandKey(None, "c1"), CommandKey("org-b", "c1"), CommandKey(None, "c2")],
        cached,
    )

    assert loaded[first.key] is first
    assert loaded[second.key] is not second
    assert referral_document(loaded[second.key]) == referral_document(accepted)
    assert referral_document(loaded[third.key]) == referral_document(third)
    assert set(loaded) == {first.key, second.key, third.key}
    assert seen == {CommandKey(None, "c1")}
    # Documents in the canonical form are read into the fast path's form, in C.
    assert isinstance(loaded[third.key], FastRecord)
    assert loaded[third.key].state == third.state


async def test_a_batch_load_leaves_a_document_outside_the_canonical_form_to_the_models(
    store: Store,
) -> None:
    unknown = Command(type=CommandType.CREATE, command_id="c1", referral_id="r9",
                      data={"name": "n", "crmField": "kept as it came"})  # fmt: skip
    decision = decide(None, unknown, NOW)
    assert isinstance(decision, Applied)
    await store.write(BatchWrite(referrals=[ReferralWrite(decision.record, 0)]))

    loaded, _ = await store.load_batch([decision.record.key], [], {})

    assert isinstance(loaded[decision.record.key], ReferralRecord)
    assert referral_document(loaded[decision.record.key]) == referral_document(decision.record)


async def test_processed_commands_are_seen_and_a_repeat_is_a_stale_write(store: Store) -> None:
    await store.write(BatchWrite(processed=[ProcessedCommand("c1", "r1", "applied")]))

    assert await store.seen([CommandKey(None, "c1"), CommandKey(None, "c2")]) == {
        CommandKey(None, "c1")
    }
    with pytest.raises(StaleWrite):
        await store.write(BatchWrite(processed=[ProcessedCommand("c1", "r1", "applied")]))


async def test_a_command_id_is_scoped_by_tenant(store: Store) -> None:
    await store.write(BatchWrite(processed=[ProcessedCommand("c1", "r1", "applied", "org-a")]))
    await store.write(BatchWrite(processed=[ProcessedCommand("c1", "r1", "rejected", "org-b")]))
    await store.write(BatchWrite(processed=[ProcessedCommand("c1", "r1", "applied")]))

    keys = [CommandKey("org-a", "c1"), CommandKey("org-b", "c1"), CommandKey(None, "c1")]
    assert await store.seen([*keys, CommandKey("org-c", "c1")]) == set(keys)
    with pytest.raises(StaleWrite):
        await store.write(BatchWrite(processed=[ProcessedCommand("c1", "x", "applied", "org-a")]))


async def test_a_processed_command_is_read_back_in_its_tenant_only(store: Store) -> None:
    await store.write(BatchWrite(processed=[ProcessedCommand("c1", "r1", "applied", "org-a")]))
    await store.write(BatchWrite(processed=[ProcessedCommand("c1", None, "rejected")]))

    assert await store.processed(CommandKey("org-a", "c1")) == ProcessedCommand(
        "c1", "r1", "applied", "org-a"
    )
    assert await store.processed(CommandKey(None, "c1")) == ProcessedCommand("c1", None, "rejected")
    assert await store.processed(CommandKey("org-b", "c1")) is None


async def test_an_update_from_a_stale_version_fails_and_writes_nothing(store: Store) -> None:
    record = created("r1")
    await store.write(BatchWrite(referrals=[ReferralWrite(record, 0)]))
    accepted = moved(record, CommandType.ACCEPT)
    await store.write(BatchWrite(referrals=[ReferralWrite(accepted, 1)]))
    late = moved(record, CommandType.DECLINE)  # decided by a replica that still saw version 1

    with pytest.raises(StaleWrite):
        await store.write(
            BatchWrite(
                referrals=[ReferralWrite(created("r2"), 0), ReferralWrite(late, 1)],
                processed=[ProcessedCommand("late", "r1", "applied")],
                outbox=[OutboxEntry(0, outgoing(1))],
            )
        )

    assert (await store.load([record.key]))[record.key].state == accepted.state
    assert await store.load([ReferralKey(None, "r2")]) == {}
    assert await store.seen([CommandKey(None, "late")]) == set()
    assert await store.pending() == []


async def test_a_batch_of_many_referrals_is_written_whole_or_not_at_all(store: Store) -> None:
    # More referrals than one statement takes, with teams, across two tenants.
    records = [created(f"r{n}", "t1" if n % 3 else None, team=[{"email": f"m{n}@x.example"}])
               for n in range(300)]  # fmt: skip
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in records]))
    accepted = [moved(r, CommandType.ACCEPT) for r in records]
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 1) for r in accepted]))
    declined = [moved(r, CommandType.DECLINE) for r in accepted]
    late = moved(records[290], CommandType.DECLINE)  # decided on version 1, in the last chunk
    writes = [ReferralWrite(r, 2) for r in declined[:290]] + [ReferralWrite(late, 1)]

    processed = [ProcessedCommand("c", "r1", "applied")]
    with pytest.raises(StaleWrite):
        await store.write(BatchWrite(referrals=writes, processed=processed))

    loaded = await store.load([r.key for r in records])
    assert {key: r.version for key, r in loaded.items()} == {r.key: 2 for r in accepted}
    assert await store.seen([CommandKey(None, "c")]) == set()
    on_team = await store.query(
        ReferralQuery(where=TeamMember("m7@x.example"), tenant_id="t1", limit=10)
    )
    assert len(on_team.documents) == 1


async def test_creating_an_existing_referral_is_a_stale_write(store: Store) -> None:
    await store.write(BatchWrite(referrals=[ReferralWrite(created("r1"), 0)]))

    with pytest.raises(StaleWrite):
        await store.write(BatchWrite(referrals=[ReferralWrite(created("r1"), 0)]))


async def test_outbox_keeps_bytes_order_and_partition_until_published(store: Store) -> None:
    entries = [
        OutboxEntry(2, outgoing(1)),
        OutboxEntry(0, outgoing(2, key=None)),
        OutboxEntry(2, outgoing(3, value=None)),
    ]

    stored = await store.write(BatchWrite(outbox=entries))

    assert [e.record for e in stored] == [e.record for e in entries]
    assert [e.seq for e in stored] == sorted(e.seq for e in stored)
    assert [e.record for e in await store.pending()] == [e.record for e in entries]
    assert [e.seq for e in await store.pending([2])] == [stored[0].seq, stored[2].seq]
    assert await store.outbox_backlog() == 3
    await store.mark_published([stored[0].seq, stored[1].seq])
    assert [e.seq for e in await store.pending()] == [stored[2].seq]


async def test_a_batch_of_many_records_gets_each_seq_of_its_own_row(store: Store) -> None:
    # More rows than one multi-row insert takes: each entry's seq must name its own row.
    entries = [OutboxEntry(n % 4, outgoing(n, key=f"ref-{n % 7}".encode())) for n in range(1203)]

    stored = await store.write(BatchWrite(outbox=entries))

    assert [e.record for e in stored] == [e.record for e in entries]
    by_seq = {e.seq: e.record for e in await store.pending()}
    assert [by_seq[e.seq] for e in stored] == [e.record for e in entries]


class Recorder:
    """A publish callback that records what it was handed and reports some of it published."""

    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.handed: list[list[int]] = []
        self.refuse = refuse

    async def __call__(self, entries: list[OutboxEntry]) -> list[int]:
        self.handed.append([e.seq for e in entries])
        return [e.seq for e in entries if e.seq not in self.refuse]


async def test_a_referral_is_published_with_its_older_unpublished_entries_first(
    store: Store,
) -> None:
    first = [OutboxEntry(0, outgoing(1, key=b"r1")), OutboxEntry(0, outgoing(2, key=b"r2"))]
    older = await store.write(BatchWrite(outbox=first))
    keyless = await store.write(BatchWrite(outbox=[OutboxEntry(1, outgoing(3, key=None))]))
    last = [OutboxEntry(1, outgoing(4, key=b"r1")), OutboxEntry(1, outgoing(5, key=None))]
    newer = await store.write(BatchWrite(outbox=last))
    publish = Recorder()

    await store.publish_in_order(newer, publish)

    assert publish.handed == [[older[0].seq, newer[0].seq, newer[1].seq]]
    remaining = [e.seq for e in await store.pending()]
    assert remaining == [older[1].seq, keyless[0].seq]
    assert await store.outbox_backlog() == 2


async def test_entries_published_meanwhile_are_not_handed_over_again(store: Store) -> None:
    stored = await store.write(BatchWrite(outbox=[OutboxEntry(0, outgoing(1, key=b"r1"))]))
    await store.publish_in_order(stored, Recorder())
    publish = Recorder()

    await store.publish_in_order(stored, publish)

    assert publish.handed == [[]] or publish.handed == []
    assert await store.outbox_backlog() == 0


async def test_a_batch_partly_published_meanwhile_hands_over_only_the_rest(store: Store) -> None:
    stored = await store.write(
        BatchWrite(outbox=[OutboxEntry(0, outgoing(1, key=b"r1")), OutboxEntry(0, outgoing(2))])
    )
    await store.publish_in_order(stored[:1], Recorder())
    publish = Recorder()

    await store.publish_in_order(stored, publish)

    assert publish.handed == [[stored[1].seq]]
    assert await store.outbox_backlog() == 0


async def test_a_large_batch_is_published_after_the_older_entries_of_its_referrals(
    store: Store,
) -> None:
    """Past what a small batch's publish locks at once (PostgreSQL's ``LOCKS_APART``)."""
    older = await store.write(
        BatchWrite(outbox=[OutboxEntry(0, outgoing(0, key=b"r1")), OutboxEntry(0, outgoing(1))])
    )
    large = [OutboxEntry(n % 3, outgoing(n, key=b"r%d" % (n % 5))) for n in range(2, 202)]
    newer = await store.write(BatchWrite(outbox=large))
    publish = Recorder()

    await store.publish_in_order(list(reversed(newer)), publish)

    assert publish.handed == [[older[0].seq] + [e.seq for e in newer]]
    assert [e.seq for e in await store.pending()] == [older[1].seq]


async def test_the_backlog_is_published_oldest_first_and_what_failed_stays(store: Store) -> None:
    stored = await store.write(
        BatchWrite(outbox=[OutboxEntry(n % 3, outgoing(n, key=b"r%d" % (n % 2))) for n in range(7)])
    )
    publish = Recorder(refuse=frozenset({stored[3].seq}))

    await store.publish_in_order(None, publish)

    assert [seq for page in publish.handed for seq in page] == [e.seq for e in stored]
    assert [e.seq for e in await store.pending()] == [stored[3].seq]


async def test_after_a_drain_a_batch_is_handed_over_alone_and_once(store: Store) -> None:
    await store.write(BatchWrite(outbox=[OutboxEntry(0, outgoing(0, key=b"r0"))]))
    await store.publish_in_order(None, Recorder())
    stored = await store.write(
        BatchWrite(outbox=[OutboxEntry(0, outgoing(n, key=b"r%d" % (n % 2))) for n in range(4)])
    )
    publish, again = Recorder(), Recorder()

    await store.publish_in_order(list(reversed(stored)), publish)
    await store.publish_in_order(stored, again)

    assert publish.handed == [[e.seq for e in stored]]
    assert [seq for page in again.handed for seq in page] == []
    assert await store.outbox_backlog() == 0


async def test_after_a_drain_a_refused_entry_still_goes_before_its_referrals_next(
    store: Store,
) -> None:
    await store.publish_in_order(None, Recorder())
    refused = await store.write(BatchWrite(outbox=[OutboxEntry(0, outgoing(1, key=b"r1"))]))
    await store.publish_in_order(refused, Recorder(refuse=frozenset({refused[0].seq})))
    newer = await store.write(BatchWrite(outbox=[OutboxEntry(0, outgoing(2, key=b"r1"))]))
    publish = Recorder()

    await store.publish_in_order(newer, publish)

    assert publish.handed == [[refused[0].seq, newer[0].seq]]
    assert await store.outbox_backlog() == 0


async def test_counts_referrals_by_status_and_substatus(store: Store) -> None:
    first, second, third = created("r1"), created("r2"), created("r3")
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in (first, second, third)]))
    await store.write(BatchWrite(referrals=[ReferralWrite(moved(first, CommandType.WIN), 1)]))

    assert await store.count_by_state() == {("New", "Pending"): 2, ("Closed", "Won"): 1}


async def test_finds_referrals_still_new_past_their_expiration(store: Store) -> None:
    due = created("due", tenant="org", expirationDateTime="2026-11-24T11:59:59Z")
    later = created("later", expirationDateTime="2026-11-24T12:00:01Z")
    accepted = moved(created("accepted", expirationDateTime="2026-11-01T00:00:00Z"),
                     CommandType.ACCEPT)  # fmt: skip
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in (due, later, accepted)]))

    candidates = await store.due_for_expiry(NOW, limit=10)

    assert [(c.referral_id, c.etag, c.tenant_id) for c in candidates] == [
        ("due", due.referral.e_tag, "org")
    ]
    assert await store.due_for_expiry(NOW + timedelta(seconds=2), limit=1) != []
    assert len(await store.due_for_expiry(NOW + timedelta(seconds=2), limit=10)) == 2


async def test_due_referrals_are_paged_by_expiration_tenant_and_id(store: Store) -> None:
    same_time = "2026-11-24T11:00:00.1234567Z"
    due = [
        created("b", tenant="org-a", expirationDateTime=same_time),
        created("a", tenant="org-b", expirationDateTime=same_time),
        created("a", tenant="org-a", expirationDateTime=same_time),
        created("z", expirationDateTime=same_time),
        created("a", expirationDateTime="2026-11-24T11:30:00Z"),
        created("first", tenant="org-z", expirationDateTime="2026-11-24T10:00:00Z"),
    ]
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in due]))

    seen: list[tuple[str | None, str]] = []
    position = None
    while True:
        page = await store.due_for_expiry(NOW, limit=2, after=position)
        seen += [(c.tenant_id, c.referral_id) for c in page]
        if len(page) < 2:
            break
        position = page[-1].position

    assert seen == [
        ("org-z", "first"), (None, "z"), ("org-a", "a"), ("org-a", "b"), ("org-b", "a"),
        (None, "a"),
    ]  # fmt: skip


async def test_a_secret_is_made_once_and_then_read_back(store: Store) -> None:
    first = await store.secret("expiry")

    assert len(first) >= 32
    assert await store.secret("expiry") == first
    assert await store.secret("other") != first


async def test_forgets_processed_commands_older_than_the_retention(store: Store) -> None:
    await store.write(BatchWrite(processed=[ProcessedCommand("old", None, "applied")]))
    cutoff = datetime.now(UTC) + timedelta(seconds=1)

    assert await store.forget_processed(cutoff) == 1
    assert await store.seen([CommandKey(None, "old")]) == set()
    assert await store.forget_processed(cutoff) == 0


async def test_the_retention_clean_up_deletes_page_after_page_until_none_is_left(
    store: Store,
) -> None:
    old = [ProcessedCommand(f"old-{n}", None, "applied") for n in range(25)]
    await store.write(BatchWrite(processed=old))
    cutoff = datetime.now(UTC) + timedelta(seconds=1)

    # Three pages (10, 10, 5): the last one, short, ends the clean-up.
    assert await store.forget_processed(cutoff, page=10) == 25
    assert await store.seen([CommandKey(None, p.command_id) for p in old]) == set()
    assert await store.forget_processed(cutoff, page=10) == 0


@pytest.mark.postgres
async def test_replicas_starting_together_migrate_the_schema_once(postgres_url: str) -> None:
    connections = [await asyncpg.connect(postgres_url) for _ in range(4)]
    try:
        versions = await asyncio.gather(*(migrate(db) for db in connections))
        applied = await connections[0].fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        for db in connections:
            await db.close()

    assert versions == [len(MIGRATIONS)] * 4
    assert applied == len(MIGRATIONS)


async def test_a_sqlite_read_in_progress_does_not_hold_up_a_batch_write(tmp_path: Path) -> None:
    # The read API, the state counts and the expiry scan read beside the consume loop: a
    # read still running (here: held open) must not delay the next batch's transaction.
    store = SqliteStore(tmp_path / "reads.db")
    await store.open()
    started, release = threading.Event(), threading.Event()

    def held_read(db: sqlite3.Connection) -> int:
        rows = db.execute("SELECT count(*) FROM referrals").fetchone()
        started.set()
        release.wait(timeout=30)
        return int(rows[0])

    try:
        reading = asyncio.ensure_future(store._db.read(held_read))
        assert await asyncio.to_thread(started.wait, 10)  # the read has its rows: then write
        await asyncio.wait_for(
            store.write(BatchWrite(referrals=[ReferralWrite(created("r1"), 0)])), timeout=10
        )
        assert not reading.done()
        release.set()
        assert await asyncio.wait_for(reading, timeout=10) == 0
        assert await store.get("r1") is not None
    finally:
        release.set()
        await store.close()


async def test_the_loops_sqlite_reads_see_the_last_commit_beside_a_write_in_progress(
    tmp_path: Path,
) -> None:
    # The consume loop reads on its own thread and connection: a transaction still open
    # on the writing thread (here: held) must neither delay those reads nor show them its
    # rows; once it commits, the next read has them.
    store = SqliteStore(tmp_path / "loop-reads.db")
    await store.open()
    await store.write(BatchWrite(referrals=[ReferralWrite(created("r1"), 0)]))
    began, release = threading.Event(), threading.Event()
    pending = created("r2")

    def held_write(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT INTO processed_commands (tenant_id, command_id, referral_id, outcome,"
            " processed_at) VALUES ('', 'c-held', 'r2', 'applied', 0)"
        )
        began.set()
        release.wait(timeout=30)
        db.execute("COMMIT")

    keys = [ReferralKey(None, "r1"), ReferralKey(None, "r2")]
    try:
        writing = asyncio.ensure_future(store._db.run(held_write))
        assert await asyncio.to_thread(began.wait, 10)
        loaded, seen = await asyncio.wait_for(
            store.load_batch(keys, [CommandKey(None, "c-held")], {}), timeout=10
        )
        assert (set(loaded), seen) == ({ReferralKey(None, "r1")}, set())
        assert not writing.done()
        release.set()
        await asyncio.wait_for(writing, timeout=10)
        await store.write(BatchWrite(referrals=[ReferralWrite(pending, 0)]))
        loaded, seen = await store.load_batch(keys, [CommandKey(None, "c-held")], {})
        assert (set(loaded), seen) == (set(keys), {CommandKey(None, "c-held")})
    finally:
        release.set()
        await store.close()


async def test_a_sqlite_library_too_old_for_the_store_is_refused_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    store = SqliteStore(tmp_path / "old.db")
    with pytest.raises(ConfigurationError, match=r"needs SQLite 3\.33\.0 or newer.* 3\.31\.1"):
        await store.open()
    await store.close()
    assert not (tmp_path / "old.db").exists()


async def test_a_sqlite_file_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    newer = SqliteStore(path)
    with pytest.raises(ConfigurationError, match="schema version 99"):
        await newer.open()
    await newer.close()


@pytest.mark.postgres
async def test_a_postgresql_database_from_a_newer_schema_is_refused(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    await store.close()
    db = await asyncpg.connect(postgres_url)
    try:
        await db.execute("INSERT INTO schema_migrations (version) VALUES (99)")
    finally:
        await db.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        await PostgresStore(postgres_url).open()


async def test_a_stored_document_this_version_would_refuse_does_not_stop_expiry(
    tmp_path: Path,
) -> None:
    """An older version wrote years below 1000 as '1-01-01T…', which no longer parses."""
    path = tmp_path / "legacy.db"
    store = SqliteStore(path)
    await store.open()
    due = created("legacy", expirationDateTime="2026-11-24T11:00:00Z",
                  details={"closingDateTime": "0001-01-01T00:00:00Z"})  # fmt: skip
    await store.write(BatchWrite(referrals=[ReferralWrite(due, 0)]))
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE referrals SET document = replace(document, '0001-01-01', '1-01-01')")
    store = SqliteStore(path)
    await store.open()
    try:
        candidates = await store.due_for_expiry(NOW, limit=10)
        loaded = await store.get("legacy")
    finally:
        await store.close()
    assert [(c.referral_id, c.etag) for c in candidates] == [("legacy", due.referral.e_tag)]
    assert loaded is not None  # the unpadded year of older versions still reads


def _version_1_rows() -> tuple[ReferralRecord, ReferralRecord, list[tuple[object, ...]]]:
    owned, open_ = created("owned", tenant="org-a"), created("open")
    rows = [
        (r.referral_id, r.version, r.state.status.value, r.state.substatus.value, r.tenant_id,
         "2026-11-24T11:00:00.0000000Z", referral_document(r))
        for r in (owned, open_)
    ]  # fmt: skip
    return owned, open_, rows


#: An outbox row as the first schema stored it (headers as JSON text of base64 values),
#: left unpublished by the older service, and the record it must be published as.
LEGACY_HEADERS = '[["ce_id","aWQtNw=="],["raw","AP8H"],["absent",null]]'
LEGACY_OUTBOX_ROW = (3, "events", b"owned", b"\x00{}", LEGACY_HEADERS, "referral.created")
LEGACY_RECORD = OutgoingRecord(
    "events", b"owned", b"\x00{}",
    (("ce_id", b"id-7"), ("raw", bytes([0, 255, 7])), ("absent", None)), "referral.created",
)  # fmt: skip


async def _check_upgraded(store: Store, owned: ReferralRecord, open_: ReferralRecord) -> None:
    """Open the upgraded store and find what the old schema held, under the new keys, and
    its unpublished outbox row as it was stored."""
    await store.open()
    try:
        assert [(e.source_partition, e.record) for e in await store.pending()] == [
            (3, LEGACY_RECORD)
        ]
        await _check_keys(store, owned, open_)
        await _check_read_columns(store, owned)
        assert "referrals_by_state" in await _count_plan(store)
    finally:
        await store.close()


async def _check_keys(store: Store, owned: ReferralRecord, open_: ReferralRecord) -> None:
    assert set(await store.load([owned.key, open_.key])) == {owned.key, open_.key}
    assert await store.get("owned") is None
    assert await store.seen([CommandKey("org-a", "c-owned"), CommandKey(None, "c-open")]) == {
        CommandKey("org-a", "c-owned"), CommandKey(None, "c-open"),
    }  # fmt: skip
    assert [c.referral_id for c in await store.due_for_expiry(NOW, 10)] == ["open", "owned"]


def patched(record: ReferralRecord, *operations: dict[str, object]) -> ReferralRecord:
    command = Command(type=CommandType.PATCH, command_id=f"patch-{record.version}",
                      referral_id=record.referral_id, data=list(operations))  # fmt: skip
    decision = decide(record, command, NOW)
    assert isinstance(decision, Applied)
    return decision.record


async def _team_of(store: Store, email: str) -> list[str]:
    page = await store.query(ReferralQuery(None, where=TeamMember(email)))
    return [position.referral_id for position in page.positions]


async def test_the_team_filter_follows_the_changes_of_the_team_and_keeps_it_through_others(
    store: Store,
) -> None:
    first = created("t1", team=[{"email": "alex@partner.example"}])
    await store.write(BatchWrite(referrals=[ReferralWrite(first, 0)]))
    accepted = moved(first, CommandType.ACCEPT)
    noted = patched(accepted, {"op": "add", "path": "/details/notes", "value": "call"})
    for before, after in ((first, accepted), (accepted, noted)):
        await store.write(BatchWrite(referrals=[ReferralWrite(after, before.version)]))
    assert await _team_of(store, "alex@partner.example") == ["t1"]
    megan = {"op": "replace", "path": "/team", "value": [{"email": "megan@partner.example"}]}
    replaced = patched(noted, megan)
    await store.write(BatchWrite(referrals=[ReferralWrite(replaced, noted.version)]))

    assert await _team_of(store, "alex@partner.example") == []
    assert await _team_of(store, "megan@partner.example") == ["t1"]


async def _check_read_columns(store: Store, owned: ReferralRecord) -> None:
    """The upgrade filled the read columns from the stored documents."""
    created_at = owned.referral.created_date_time
    assert created_at is not None
    where = Comparison(FIELDS["createdDateTime"], "eq", created_at)
    page = await store.query(ReferralQuery("org-a", where=where), count=True)
    assert (len(page.documents), page.total) == (1, 1)
    assert page.positions[0].referral_id == "owned"


async def test_a_sqlite_file_of_schema_1_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    owned, open_, rows = _version_1_rows()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(SQLITE_VERSION_1)
        db.executemany("INSERT INTO referrals VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.executemany("INSERT INTO processed_commands VALUES (?, ?, 'applied', 0)",
                       [("c-owned", "owned"), ("c-open", "open")])  # fmt: skip
        db.execute("INSERT INTO outbox (source_partition, topic, key, value, headers, kind,"
                   " created_at) VALUES (?, ?, ?, ?, ?, ?, 0)", LEGACY_OUTBOX_ROW)  # fmt: skip
    await _check_upgraded(SqliteStore(path), owned, open_)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


@pytest.mark.postgres
async def test_a_postgresql_database_of_schema_1_is_migrated_in_place(postgres_url: str) -> None:
    owned, open_, rows = _version_1_rows()
    db = await asyncpg.connect(postgres_url)
    try:
        await db.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
        for statement in MIGRATIONS[0]:
            await db.execute(statement)
        await db.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        await db.executemany(
            "INSERT INTO referrals VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7)", rows
        )
        await db.executemany(
            "INSERT INTO processed_commands (command_id, referral_id, outcome)"
            " VALUES ($1, $2, 'applied')",
            [("c-owned", "owned"), ("c-open", "open")],
        )
        await db.execute(
            "INSERT INTO outbox (source_partition, topic, key, value, headers, kind)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            *LEGACY_OUTBOX_ROW,
        )
    finally:
        await db.close()
    await _check_upgraded(PostgresStore(postgres_url), owned, open_)
