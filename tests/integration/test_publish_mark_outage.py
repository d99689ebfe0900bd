"""An outage between the broker's acknowledgement and the store's mark of the published rows
costs no duplicate event: the publisher remembers what was acknowledged, and once the store
is back it marks those rows without sending them again, then publishes what came after.

The store really fails at that moment: on SQLite another connection holds the write lock
past the busy timeout, on PostgreSQL the publishing session is terminated. Real broker.
"""

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from service.broker import EmbeddedBroker
from service.codec import OutgoingRecord
from service.consume.publisher import OutboxPublisher, RerouteSettings
from service.errors import StoreUnavailable
from service.health import Health
from service.kafka import ensure_topics, make_producer
from service.metrics import Metrics
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, Store
from service.store.base import Publish
from service.store.postgres import PostgresStore
from service.store.sqlite import SqliteStore
from tests.support.kafka_io import Received, collect
from tests.support.postgres import fresh_postgres_database
from tests.support.services import isolated_settings

pytestmark = [pytest.mark.broker]

#: Makes the store fail once the publisher has settled a batch, before the store marks it.
Breaker = Callable[[], Awaitable[None]]


class FailingAfterSettle:
    """The store, with ``breaker`` run once right after the publisher's first settle."""

    def __init__(self, store: Store, breaker: Breaker) -> None:
        self.store = store
        self.breaker: Breaker | None = breaker

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def publish_in_order(self, entries: list[OutboxEntry] | None, publish: Publish) -> None:
        async def settle(batch: list[OutboxEntry]) -> list[int]:
            published = await publish(batch)
            if self.breaker is not None:
                breaker, self.breaker = self.breaker, None
                await breaker()
            return published

        await self.store.publish_in_order(entries, settle)


def ended(records: list[Received]) -> bool:
    return bool(records) and "end" in records[-1].json


def event(settings: Settings, referral_id: str, version: int) -> OutgoingRecord:
    return OutgoingRecord(
        settings.events_topic,
        referral_id.encode(),
        f'{{"referralId":"{referral_id}","version":{version}}}'.encode(),
        (("ce_id", f"{referral_id}-v{version}".encode()),),
        "referral.updated",
    )


async def a_mark_lost_then_recovered(
    settings: Settings, store: Store, breaker: Breaker, undo: Callable[[], Awaitable[None]]
) -> None:
    """Publish v1 with the store failing before its mark, then v2 and the backlog once the
    store is back: the topic holds v1 and v2, once each, in order, and the outbox is empty."""
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        reroute = RerouteSettings(settings.dlq_topic, settings.max_record_bytes, 3)
        failing = FailingAfterSettle(store, breaker)
        publisher = OutboxPublisher(
            producer,
            failing,  # type: ignore[arg-type]
            reroute,
            Metrics(CollectorRegistry()),
            Health(stall_seconds=60),
        )
        first = await store.write(BatchWrite(outbox=[OutboxEntry(0, event(settings, "r", 1))]))
        with pytest.raises(StoreUnavailable):
            await publisher.publish(first)
        await undo()

        second = await store.write(BatchWrite(outbox=[OutboxEntry(0, event(settings, "r", 2))]))
        await publisher.publish(None)
        await publisher.publish(second)
        # The key's partition in order: all the events are before this end mark.
        await (await producer.send(settings.events_topic, value=b'{"end":true}', key=b"r"))
    finally:
        await producer.stop()

    assert await store.outbox_backlog() == 0
    got = await collect(settings, [settings.events_topic], ended)
    assert [r.json["version"] for r in got[:-1]] == [1, 2]


async def test_sqlite_a_mark_locked_out_sends_nothing_twice(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    database = tmp_path / "outbox.db"
    settings = isolated_settings(broker.bootstrap_servers, database)
    store = SqliteStore(database)
    await store.open()
    blocker = sqlite3.connect(database, isolation_level=None)

    async def lock() -> None:
        blocker.execute("BEGIN EXCLUSIVE")

    async def unlock() -> None:
        blocker.execute("ROLLBACK")

    try:
        await a_mark_lost_then_recovered(settings, store, lock, unlock)
    finally:
        blocker.close()
        await store.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        yield url


@pytest.mark.postgres
async def test_postgres_a_publishing_session_ended_sends_nothing_twice(
    broker: EmbeddedBroker, tmp_path: Path, postgres_url: str
) -> None:
    settings = isolated_settings(
        broker.bootstrap_servers, tmp_path / "unused.db", database_url=postgres_url
    )
    store = PostgresStore(postgres_url)
    await store.open()

    async def end_the_publishing_session() -> None:
        admin = await asyncpg.connect(postgres_url)
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state = 'idle in transaction'"
            )
        finally:
            await admin.close()
        assert ended == 1

    async def nothing() -> None:
        return None

    try:
        await a_mark_lost_then_recovered(settings, store, end_the_publishing_session, nothing)
    finally:
        await store.close()
