"""Several processes sharing one SQLite file, as ``referrals run --workers N`` runs them:
each referral's records are published in the order they were stored whichever process
stored or publishes them, a killed process's claims on its keys end with it, processes
starting together create or upgrade the schema once, and a write from a version another
process has moved past is refused."""

import asyncio
import contextlib
import os
import signal
import sqlite3
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.errors import StaleWrite
from service.store import BatchWrite, OutboxEntry, ReferralWrite, SqliteStore, Store, open_store
from service.store.sqlite_schema import SCHEMA_VERSION
from state import CommandType, ReferralKey
from tests.support.legacy_schemas import SQLITE_VERSION_1
from tests.support.postgres import fresh_postgres_database
from tests.support.sqlite_processes import (
    CHILD_TIMEOUT,
    SPAWN,
    SharedLog,
    accept,
    created,
    ended,
    make_secret,
    moved,
    open_together,
    publish_and_hang,
    record,
    start,
    write_and_publish,
)

KEYS = [f"r{n}" for n in range(12)]
BATCHES = 40


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "shared.db")
    await store.open()
    yield store
    await store.close()


async def test_processes_sharing_a_file_publish_each_referral_in_the_order_stored(
    shared: SqliteStore, tmp_path: Path
) -> None:
    log = SharedLog(tmp_path / "published.log")
    # Every process writes every key, each in an order of its own, a batch at a time.
    orders = [KEYS, KEYS[::-1], KEYS[6:] + KEYS[:6]]
    barrier = SPAWN.Barrier(len(orders))
    children = [
        start(write_and_publish, shared.path, log.path, tmp_path / f"stored-{n}", f"p{n}", keys,
              BATCHES, barrier)
        for n, keys in enumerate(orders)
    ]  # fmt: skip

    assert await asyncio.to_thread(ended, children) == [0, 0, 0]

    stored = [int(s) for n in range(3) for s in (tmp_path / f"stored-{n}").read_text().split()]
    published = log.lines()
    assert len(stored) == 3 * BATCHES * len(KEYS)
    assert Counter(seq for seq, _, _ in published) == Counter(stored)  # each once, none lost
    by_key: defaultdict[str, list[int]] = defaultdict(list)
    for seq, key, _ in published:
        by_key[key].append(seq)
    assert set(by_key) == set(KEYS)
    assert all(seqs == sorted(seqs) for seqs in by_key.values()), by_key
    assert await shared.outbox_backlog() == 0


async def test_a_killed_process_lets_go_of_its_keys_and_their_records_are_published(
    shared: SqliteStore, tmp_path: Path
) -> None:
    holding = SPAWN.Event()
    child = start(publish_and_hang, shared.path, ["r1", "r2"], holding)
    log = SharedLog(tmp_path / "published.log")
    try:
        assert await asyncio.to_thread(holding.wait, CHILD_TIMEOUT)
        mine = await shared.write(
            BatchWrite(
                outbox=[
                    OutboxEntry(0, record(b"r1", "after")),
                    OutboxEntry(0, record(b"r3", "free")),
                ]
            )
        )
        publishing = asyncio.ensure_future(shared.publish_in_order(mine, log))
        done, _ = await asyncio.wait([publishing], timeout=0.5)
        assert not done, "published while another process held r1"
        assert log.lines() == []

        os.kill(child.pid or 0, signal.SIGKILL)
        await asyncio.wait_for(publishing, timeout=CHILD_TIMEOUT)
    finally:
        child.kill()
        child.join(CHILD_TIMEOUT)

    assert [(key, value) for _, key, value in log.lines()] == [
        ("r1", "doomed"), ("r1", "after"), ("r3", "free")
    ]  # fmt: skip
    await shared.publish_in_order(None, log)  # the backlog: what the killed one left of r2
    assert [(key, value) for _, key, value in log.lines()][3:] == [("r2", "doomed")]
    assert await shared.outbox_backlog() == 0


@pytest.mark.parametrize("found", ["no file", "schema 1"])
async def test_processes_opening_a_file_together_create_or_upgrade_its_schema_once(
    tmp_path: Path, found: str
) -> None:
    database = tmp_path / "together.db"
    if found == "schema 1":
        with contextlib.closing(sqlite3.connect(database)) as db:
            db.executescript(SQLITE_VERSION_1)
    barrier = SPAWN.Barrier(4)

    children = [start(open_together, database, barrier) for _ in range(4)]

    assert await asyncio.to_thread(ended, children) == [0, 0, 0, 0]
    with contextlib.closing(sqlite3.connect(database)) as db:
        versions = [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == (
        list(range(1, SCHEMA_VERSION + 1)) if found == "schema 1" else [SCHEMA_VERSION]
    )
    store = SqliteStore(database)
    await store.open(migrate=False)  # this version's schema, whole
    await store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fenced.db'}"
        return
    async with fresh_postgres_database() as postgres:
        yield postgres


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    opened = open_store(url)
    await opened.open()
    yield opened
    await opened.close()


async def test_a_write_from_a_version_another_process_moved_past_is_refused(
    url: str, store: Store
) -> None:
    key = ReferralKey(None, "r1")
    await store.write(BatchWrite(referrals=[ReferralWrite(created("r1"), 0)]))
    mine = (await store.load([key]))[key]

    assert await asyncio.to_thread(ended, [start(accept, url, "r1")]) == [0]

    declined = ReferralWrite(moved(mine, CommandType.DECLINE), mine.version)
    with pytest.raises(StaleWrite):
        await store.write(BatchWrite(referrals=[declined]))
    now = await store.get("r1")
    assert now is not None
    assert (now.version, now.state.substatus) == (2, "Accepted")


async def test_a_cached_referral_another_process_moved_is_loaded_again(
    url: str, store: Store
) -> None:
    key = ReferralKey(None, "r1")
    await store.write(BatchWrite(referrals=[ReferralWrite(created("r1"), 0)]))
    cached, _ = await store.load_batch([key], [], {})

    assert await asyncio.to_thread(ended, [start(accept, url, "r1")]) == [0]

    loaded, _ = await store.load_batch([key], [], cached)
    assert loaded[key].version == 2
    assert loaded[key] is not cached[key]


async def test_processes_asking_for_a_secret_together_get_the_same_one(
    shared: SqliteStore, tmp_path: Path
) -> None:
    barrier = SPAWN.Barrier(4)
    made = [tmp_path / f"secret-{n}" for n in range(4)]

    children = [start(make_secret, shared.path, barrier, path) for path in made]

    assert await asyncio.to_thread(ended, children) == [0, 0, 0, 0]
    assert {path.read_bytes() for path in made} == {await shared.secret("shared")}


class Holding:
    """A publisher that holds its entries until released."""

    def __init__(self) -> None:
        self.holding, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self, entries: list[OutboxEntry]) -> list[int]:
        self.holding.set()
        await self.release.wait()
        return [entry.seq for entry in entries]


async def test_a_second_store_of_the_file_in_one_process_waits_and_its_close_keeps_the_claims(
    shared: SqliteStore, tmp_path: Path
) -> None:
    held = await shared.write(BatchWrite(outbox=[OutboxEntry(0, record(b"r1", "first"))]))
    holder = Holding()
    holding = asyncio.ensure_future(shared.publish_in_order(held, holder))
    await asyncio.wait_for(holder.holding.wait(), timeout=10)
    second = SqliteStore(shared.path)
    await second.open()
    log = SharedLog(tmp_path / "published.log")
    waiting = asyncio.ensure_future(second.publish_in_order(None, log))
    done, _ = await asyncio.wait([waiting], timeout=0.5)
    assert not done, "a second store of this process published what the first holds"
    waiting.cancel()
    await second.close()  # its lock files' descriptors stay open for the first
    alone = SPAWN.Barrier(1)  # referred to until the child has it
    child = start(write_and_publish, shared.path, log.path, tmp_path / "stored", "child",
                  ["r1"], 1, alone)  # fmt: skip
    try:
        assert not await asyncio.to_thread(child.join, 0.5)
        assert child.is_alive(), "another process published r1 while it was held"
        assert log.lines() == []
        holder.release.set()
        await asyncio.wait_for(holding, timeout=10)
        assert await asyncio.to_thread(ended, [child]) == [0]
    finally:
        holder.release.set()
        child.kill()

    assert [(key, value) for _, key, value in log.lines()] == [("r1", "child-0")]
    assert await shared.outbox_backlog() == 0


async def test_published_rows_are_marked_then_deleted_by_the_next_write_or_at_close(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "marks.db")
    await store.open()
    log = SharedLog(tmp_path / "published.log")

    def rows() -> list[tuple[str, int]]:
        with contextlib.closing(sqlite3.connect(store.path)) as db:
            return [
                (table, db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in ("outbox", "outbox_published")
            ]

    try:
        first = await store.write(BatchWrite(outbox=[OutboxEntry(0, record(b"r1", "a"))]))
        await store.publish_in_order(first, log)
        assert rows() == [("outbox", 1), ("outbox_published", 1)]
        assert await store.outbox_backlog() == 0
        second = await store.write(BatchWrite(outbox=[OutboxEntry(0, record(b"r1", "b"))]))
        assert rows() == [("outbox", 1), ("outbox_published", 0)]
        await store.publish_in_order(second, log)
    finally:
        await store.close()

    assert rows() == [("outbox", 0), ("outbox_published", 0)]
    assert [value for _, _, value in log.lines()] == ["a", "b"]
