"""A batch whose referrals the loop holds (it wrote them last) is decided without asking the
store; its write holds each referral it read to the version read and each command to being
new. When the store holds something else (another replica wrote meanwhile), the batch is
decided again on what the store holds, so every outcome is the one the store's state gives.

Each test writes behind the running service's back, as another replica would, through a
store of its own on the same database."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from service.settings import Settings
from service.store import BatchWrite, ProcessedCommand, ReferralWrite, Store, open_store
from state import Applied, Command, CommandType, ReferralKey, decide
from tests.support.http_probes import http_get
from tests.support.kafka_io import Producer, Received, collect, command
from tests.support.replica_scenarios import unique
from tests.support.services import running

pytestmark = pytest.mark.broker


@asynccontextmanager
async def _another_replica(settings: Settings) -> AsyncIterator[Store]:
    store = open_store(settings.database_url.get_secret_value())
    await store.open(migrate=False)
    try:
        yield store
    finally:
        await store.close()


def _metric(metrics: bytes, line: str) -> float:
    for row in metrics.decode().splitlines():
        if row.startswith(line + " "):
            return float(row.rsplit(" ", 1)[1])
    raise AssertionError(f"{line} is not exported")


def _outcomes(got: list[Received]) -> list[tuple[str, int | None]]:
    return [(r.header("ce_type"), (r.json or {}).get("version")) for r in unique(got)]


async def _renamed_behind_the_back(settings: Settings, rid: str) -> str:
    """Another replica's patch of the referral (version 1 to 2); its new eTag."""
    async with _another_replica(settings) as store:
        key = ReferralKey(None, rid)
        stored = (await store.load([key]))[key]
        patch = [{"op": "replace", "path": "/name", "value": "Renamed elsewhere"}]
        change = Command(
            type=CommandType.PATCH, command_id=f"elsewhere-{rid}", referral_id=rid, data=patch
        )
        decision = decide(stored, change, datetime.now(UTC))
        assert isinstance(decision, Applied)
        await store.write(BatchWrite(referrals=[ReferralWrite(decision.record, 1)]))
        etag = decision.record.referral.e_tag
        assert isinstance(etag, str)
        return etag


@asynccontextmanager
async def _a_referral_created(settings: Settings) -> AsyncIterator[tuple[Producer, str]]:
    """The service running, and a referral it created (its event read back)."""
    rid = f"ref-{uuid.uuid4()}"
    async with running(settings), Producer(settings) as producer:
        await producer.structured(command("referral.create", rid, {"name": "Contoso"}))
        await collect(settings, _topics(settings), lambda got: len(unique(got)) == 1)
        yield producer, rid


def _topics(settings: Settings) -> list[str]:
    return [settings.events_topic, settings.rejections_topic]


async def test_a_refusal_decided_on_a_referral_held_here_is_decided_again_on_the_store_s(
    one_record_batches: Settings,
) -> None:
    settings = one_record_batches
    async with _a_referral_created(settings) as (producer, rid):
        etag = await _renamed_behind_the_back(settings, rid)
        # Held here at version 1, this eTag is stale; in the store it is the current one.
        patch = [{"op": "add", "path": "/externalReferenceId", "value": "ext-1"}]
        await producer.structured(command("referral.patch", rid, patch, ifmatch=etag))
        got = await collect(settings, _topics(settings), lambda got: len(unique(got)) == 2)
        _, metrics = await http_get(settings.http_port, "/metrics")

    assert _outcomes(got) == [("referral.created", 1), ("referral.updated", 3)]
    assert unique(got)[1].json["referral"]["name"] == "Renamed elsewhere"
    # The first batch after the assignment reads the store (it goes in order, after the
    # outbox's backlog); the patch was decided on what the loop held, then on the store's.
    assert _metric(metrics, 'referrals_batch_loads_total{kind="skipped"}') == 1
    assert _metric(metrics, 'referrals_batch_loads_total{kind="read"}') == 2


async def test_a_change_decided_on_a_referral_held_here_is_decided_again_on_the_store_s(
    one_record_batches: Settings,
) -> None:
    settings = one_record_batches
    async with _a_referral_created(settings) as (producer, rid):
        await _renamed_behind_the_back(settings, rid)
        await producer.structured(command("referral.accept", rid))
        got = await collect(settings, _topics(settings), lambda got: len(unique(got)) == 2)

    assert _outcomes(got) == [("referral.created", 1), ("referral.accepted", 3)]
    assert unique(got)[1].json["referral"]["name"] == "Renamed elsewhere"


async def test_a_command_processed_elsewhere_is_a_duplicate_though_not_held_here(
    one_record_batches: Settings,
) -> None:
    settings = one_record_batches
    again = str(uuid.uuid4())
    async with _a_referral_created(settings) as (producer, rid):
        # Processed by another replica: its outcome is stored, this loop never saw it.
        async with _another_replica(settings) as store:
            done = ProcessedCommand(again, rid, "applied")
            await store.write(BatchWrite(processed=[done]))
        await producer.structured(command("referral.accept", rid, command_id=again))
        await producer.structured(command("referral.accept", rid))
        got = await collect(settings, _topics(settings), lambda got: len(unique(got)) == 2)

    assert _outcomes(got) == [("referral.created", 1), ("referral.accepted", 2)]
    assert unique(got)[1].header("ce_causationid") != again


async def test_a_duplicate_of_a_command_processed_here_is_found_without_reading_the_store(
    one_record_batches: Settings,
) -> None:
    settings = one_record_batches
    rid, accepted = f"ref-{uuid.uuid4()}", str(uuid.uuid4())
    async with running(settings), Producer(settings) as producer:
        await producer.structured(command("referral.create", rid, {"name": "Contoso"}))
        await producer.structured(command("referral.accept", rid, command_id=accepted))
        await collect(settings, _topics(settings), lambda got: len(unique(got)) == 2)
        _, before = await http_get(settings.http_port, "/metrics")
        await producer.structured(command("referral.accept", rid, command_id=accepted))
        await producer.structured(command("referral.win", rid))
        got = await collect(settings, _topics(settings), lambda got: len(unique(got)) == 3)
        _, after = await http_get(settings.http_port, "/metrics")

    assert _outcomes(got) == [
        ("referral.created", 1),
        ("referral.accepted", 2),
        ("referral.won", 3),
    ]
    duplicates = 'referrals_commands_total{code="",outcome="duplicate",type="referral.accept"}'
    assert _metric(after, duplicates) == 1
    # The duplicate's batch and the one after it were decided on what the loop held.
    reads = 'referrals_batch_loads_total{kind="read"}'
    assert _metric(after, reads) == _metric(before, reads)


async def _created_behind_the_back(settings: Settings, rid: str) -> None:
    """Another replica's create of the referral (version 1)."""
    async with _another_replica(settings) as store:
        create = Command(
            type=CommandType.CREATE, command_id=f"elsewhere-{rid}", referral_id=rid,
            data={"name": "Created elsewhere"},
        )  # fmt: skip
        decision = decide(None, create, datetime.now(UTC))
        assert isinstance(decision, Applied)
        await store.write(BatchWrite(referrals=[ReferralWrite(decision.record, 0)]))


async def test_only_the_referrals_not_held_here_are_read_and_each_is_found_as_stored(
    one_record_batches: Settings,
) -> None:
    settings = one_record_batches
    absent, elsewhere = f"ref-{uuid.uuid4()}", f"ref-{uuid.uuid4()}"
    async with _a_referral_created(settings) as (producer, rid):
        _, before = await http_get(settings.http_port, "/metrics")
        await _created_behind_the_back(settings, elsewhere)
        await producer.structured(command("referral.accept", absent))
        await producer.structured(command("referral.accept", elsewhere))
        await producer.structured(command("referral.accept", rid))
        got = await collect(settings, _topics(settings), lambda got: len(unique(got)) == 4)
        _, after = await http_get(settings.http_port, "/metrics")

    by_subject = {r.header("ce_subject"): r for r in unique(got)}
    assert by_subject[absent].json["code"] == "itemNotFound"
    assert _outcomes([by_subject[elsewhere], by_subject[rid]]) == [("referral.accepted", 2)] * 2
    assert by_subject[elsewhere].json["referral"]["name"] == "Created elsewhere"

    def grew(kind: str) -> float:
        line = f'referrals_batch_loads_total{{kind="{kind}"}}'
        return _metric(after, line) - _metric(before, line)

    # The two referrals not held here were each read alone; none was refused a write.
    assert (grew("partial"), grew("read"), grew("skipped")) == (2, 0, 1)
