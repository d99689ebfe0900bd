"""The loop decides a batch while the one before it lands (is published and, on PostgreSQL,
written). On PostgreSQL the decision stands only if that batch lands; if it fails, both are
processed again, in order. On SQLite the batch before was written before it went in
flight, so the next is written meanwhile and stands whether that publish lands or not.

The store is made to refuse the first write of an accept (a trigger raising the store's
own stale-write error after a pause, as if another replica had written first), while the
win that follows it is polled and decided in the meantime on top of the accept.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.broker import EmbeddedBroker
from service.errors import STALE_WRITE_SQLSTATE, BrokerUnavailable
from service.settings import Settings
from tests.support.http_probes import http_get
from tests.support.kafka_io import Producer, collect, command
from tests.support.postgres import fresh_postgres_database
from tests.support.replica_scenarios import unique
from tests.support.services import isolated_settings, running

pytestmark = pytest.mark.broker

REFUSE_FIRST_ACCEPT = f"""
CREATE SEQUENCE accept_writes;
CREATE FUNCTION refuse_first_accept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'Active' AND nextval('accept_writes') = 1 THEN
        PERFORM pg_sleep(0.5);  -- long enough for the next batch to be decided meanwhile
        RAISE EXCEPTION 'written first elsewhere' USING ERRCODE = '{STALE_WRITE_SQLSTATE}';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_first_accept BEFORE UPDATE ON referrals
    FOR EACH ROW EXECUTE FUNCTION refuse_first_accept();
"""


@pytest.fixture
async def settings(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Settings]:
    async with fresh_postgres_database() as url:
        # One record a batch: the accept and the win are two batches, one in flight.
        yield isolated_settings(
            broker.bootstrap_servers, tmp_path / "unused.db", database_url=url, max_batch_size=1
        )


def _value(metrics: bytes, line: str) -> float:
    for row in metrics.decode().splitlines():
        if row.startswith(line + " "):
            return float(row.rsplit(" ", 1)[1])
    raise AssertionError(f"{line} is not exported")


@pytest.mark.postgres
async def test_a_decision_on_a_batch_that_failed_to_land_is_dropped_and_made_again(
    settings: Settings,
) -> None:
    rid = f"ref-{uuid.uuid4()}"
    async with running(settings):
        async with Producer(settings) as producer:
            await producer.structured(command("referral.create", rid, {"name": "Contoso"}))
            await collect(settings, [settings.events_topic], lambda got: len(got) == 1)
            db = await asyncpg.connect(settings.database_url.get_secret_value())
            try:
                await db.execute(REFUSE_FIRST_ACCEPT)
                await producer.structured(command("referral.accept", rid))
                await producer.structured(command("referral.win", rid, {"statusReason": "Won"}))
                events = await collect(
                    settings, [settings.events_topic], lambda got: len(unique(got)) >= 3
                )
                accept_writes = await db.fetchval("SELECT last_value FROM accept_writes")
            finally:
                await db.close()
        _, metrics = await http_get(settings.http_port, "/metrics")

    once = unique(events)
    assert [(e.header("ce_type"), e.json["version"]) for e in once] == [
        ("referral.created", 1),
        ("referral.accepted", 2),
        ("referral.won", 3),
    ]
    won = once[2].json
    assert (won["previousStatus"], won["previousSubstatus"]) == ("Active", "Accepted")
    assert accept_writes >= 2  # refused once, then written
    assert _value(metrics, 'referrals_decided_ahead_total{outcome="dropped"}') == 1
    assert _value(metrics, 'referrals_retries_total{component="conflict"}') >= 1


async def test_batches_decided_beside_the_one_in_flight_apply_every_command_once(
    one_record_batches: Settings,
) -> None:
    settings = one_record_batches
    ids = [f"ref-{n}-{uuid.uuid4()}" for n in range(20)]
    async with running(settings):
        async with Producer(settings) as producer:
            for rid in ids:
                await producer.binary(command("referral.create", rid, {"name": rid}))
                await producer.binary(command("referral.accept", rid))
                await producer.binary(command("referral.lose", rid))
            events = await collect(
                settings, [settings.events_topic], lambda got: len(unique(got)) >= 3 * len(ids)
            )
        _, metrics = await http_get(settings.http_port, "/metrics")

    once = unique(events)
    assert len(once) == 3 * len(ids)
    for rid in ids:
        mine = [e for e in once if e.key == rid.encode()]
        assert [e.json["version"] for e in mine] == [1, 2, 3]
    assert _value(metrics, 'referrals_decided_ahead_total{outcome="kept"}') > 0
    assert _value(metrics, 'referrals_decided_ahead_total{outcome="dropped"}') == 0


@pytest.mark.parametrize("cpus", [1, 2], ids=["written-first", "written-in-flight"])
async def test_on_sqlite_a_batch_written_beside_a_publish_that_fails_stands_and_is_published(
    broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    """With no core to spare, the win is written while the accept's publish fails, and
    stands; with one, it is written in flight after the accept lands, so it is dropped when
    the accept's publish fails and decided again. Either way each event leaves once."""
    import service.consume.decision
    import service.consume.publisher
    import service.startup

    monkeypatch.setattr(service.startup, "usable_cpus", lambda: cpus)

    settings = isolated_settings(broker.bootstrap_servers, tmp_path / "r.db", max_batch_size=1)
    rid = f"ref-{uuid.uuid4()}"
    won_decided = asyncio.Event()
    decided: list[str] = []
    real_decide = service.consume.decision.decide

    def decide(current: Any, command_: Any, *rest: Any) -> Any:
        decided.append(command_.type.value)
        if command_.type.value == "referral.win":
            won_decided.set()
        return real_decide(current, command_, *rest)

    # The accept's publish waits until the win has been decided beside it, then fails
    # as if the broker had gone away.
    failed = {"accept publish": False}
    real_publish = service.consume.publisher.OutboxPublisher.publish

    async def publish(self: Any, entries: Any) -> None:
        kinds = {entry.record.kind for entry in entries or ()}
        if "referral.accepted" in kinds and not failed["accept publish"]:
            await asyncio.wait_for(won_decided.wait(), 30)
            failed["accept publish"] = True
            raise BrokerUnavailable("the broker went away")
        await real_publish(self, entries)

    real_fast = service.consume.decision.decide_fast

    def decide_fast(current: Any, command_: Any, *rest: Any) -> Any:
        decision = real_fast(current, command_, *rest)
        if decision is not None:
            decided.append(command_.type.value)
            if command_.type.value == "referral.win":
                won_decided.set()
        return decision

    monkeypatch.setattr(service.consume.decision, "decide", decide)
    monkeypatch.setattr(service.consume.decision, "decide_fast", decide_fast)
    monkeypatch.setattr(service.consume.publisher.OutboxPublisher, "publish", publish)
    async with running(settings):
        async with Producer(settings) as producer:
            await producer.structured(command("referral.create", rid, {"name": "Contoso"}))
            await collect(settings, [settings.events_topic], lambda got: len(got) == 1)
            await producer.structured(command("referral.accept", rid))
            await producer.structured(command("referral.win", rid, {"statusReason": "Won"}))
            events = await collect(
                settings, [settings.events_topic], lambda got: len(unique(got)) >= 3
            )
        _, metrics = await http_get(settings.http_port, "/metrics")

    assert failed["accept publish"]
    once = unique(events)
    assert [(e.header("ce_type"), e.json["version"]) for e in once] == [
        ("referral.created", 1),
        ("referral.accepted", 2),
        ("referral.won", 3),
    ]
    written_first = cpus == 1
    # Written first, it stands and is not decided again; in flight, it is made again.
    assert decided.count("referral.win") == (1 if written_first else 2)
    dropped = _value(metrics, 'referrals_decided_ahead_total{outcome="dropped"}')
    assert dropped == (0 if written_first else 1)
    assert _value(metrics, 'referrals_retries_total{component="broker"}') >= 1
