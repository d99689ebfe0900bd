"""The last resort, on a real broker and both stores: whatever a producer puts on the
commands topic (records the Kafka client cannot parse, null header values, long keys,
envelope near misses, values neither store could hold), every record gets exactly one
outcome, the good commands around them are applied, and the service never stops; a record
delivered again after a crash is not dead-lettered twice."""

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from service.broker import EmbeddedBroker
from service.jsonio import dumps
from service.settings import Settings
from tests.support.kafka_io import Received, collect, command
from tests.support.postgres import fresh_postgres_database
from tests.support.raw_records import Damage, RawProducer, RawRecord, batch_of
from tests.support.services import isolated_settings, running

pytestmark = pytest.mark.broker

STRUCTURED = (b"content-type", b"application/cloudevents+json")
DOCUMENT = {"name": "Contoso", "details": {"dealValue": 10, "currency": "USD"}}
TWICE = b'{"specversion":"1.0","id":"a","id":"b","type":"referral.create","source":"u"}'


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def each_store(
    request: pytest.FixtureRequest, broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[Settings]:
    if request.param == "sqlite":
        yield isolated_settings(broker.bootstrap_servers, tmp_path / "r.db")
        return
    async with fresh_postgres_database() as url:
        yield isolated_settings(broker.bootstrap_servers, tmp_path / "unused.db", database_url=url)


def structured(envelope: dict[str, Any], key: bytes = b"k") -> RawRecord:
    return RawRecord(dumps(envelope), key, [STRUCTURED])


def create(referral_id: str, document: dict[str, Any] | None = None) -> RawRecord:
    return structured(command("referral.create", referral_id, document or DOCUMENT))


def hostile(rid: str) -> list[tuple[str, RawRecord]]:
    """One record of each family, with the outcome it must get."""
    binary_type = (b"ce_type", b"referral.create")
    binary = [(b"ce_specversion", b"1.0"), (b"ce_id", b"b-1"), (b"ce_source", b"t"), binary_type]
    pointer = "/customerProfile/team/" + "9" * 5000 + "/email"
    xml = command("referral.create", f"{rid}-x", DOCUMENT, datacontenttype="application/xml")
    long_index = command("referral.patch", rid, [{"op": "add", "path": pointer, "value": "x"}])
    return [
        ("unreadable-record", RawRecord(b"{}", b"k", [(b"\xff\xfe-name", b"x")])),
        ("not-json", RawRecord(b"garbage", b"k", [(b"a-null", None), (b"b", b"1")])),
        ("not-json", RawRecord(b"garbage with a long key", b"k" * 8192)),
        ("not-json", RawRecord(None, None, [(b"only-null", None)])),
        ("misspelled-attribute", structured(command("referral.accept", rid, ifMatch='"e"'))),
        ("misspelled-attribute", structured(command("referral.accept", rid, TenantId="org"))),
        ("duplicate-attribute", RawRecord(dumps(DOCUMENT), b"k", [*binary, binary_type])),
        ("duplicate-key", RawRecord(TWICE, b"k", [STRUCTURED])),
        (
            "unsupported-content-type",
            structured(xml),
        ),
        ("invalidRequest", create(f"{rid}-nul", {**DOCUMENT, "externalReferenceId": "a\u0000b"})),
        ("invalidRequest", create(f"{rid}-long", {**DOCUMENT, "engagementId": "e" * 3000})),
        (
            "invalidRequest",
            create(f"{rid}-deal", {**DOCUMENT, "details": {"dealValue": "1e999999999"}}),
        ),
        (
            "invalidRequest",
            structured(long_index),
        ),
    ]  # fmt: skip


async def test_every_hostile_record_gets_one_outcome_and_the_commands_around_them_apply(
    each_store: Settings,
) -> None:
    settings, rid = each_store, f"r-{uuid.uuid4()}"
    families = hostile(rid)
    goods = [f"good-{n}-{uuid.uuid4()}" for n in range(len(families) + 1)]
    expected_dead = Counter(code for code, _ in families if code != "invalidRequest")
    expected_rejected = sum(1 for code, _ in families if code == "invalidRequest")
    async with running(settings), RawProducer(settings.kafka_bootstrap_servers) as producer:
        await producer.send_records(settings.commands_topic, 0, [create(rid)])
        for good, (_, record) in zip(goods, families, strict=False):
            await producer.send_records(settings.commands_topic, 0, [record, create(good)])
        damaged = batch_of([create(f"in-a-damaged-batch-{uuid.uuid4()}")], Damage(crc_xor=1))
        await producer.send(settings.commands_topic, 0, damaged)
        await producer.send_records(settings.commands_topic, 0, [create(goods[-1])])
        events = await collect(settings, [settings.events_topic], _created(goods, rid))
        rejected = await collect(
            settings, [settings.rejections_topic], lambda got: len(got) >= expected_rejected
        )
        dead = await collect(
            settings, [settings.dlq_topic], lambda got: len(got) >= expected_dead.total() + 1
        )

    assert {e.json["referralId"] for e in events} >= {*goods, rid}
    assert [r.json["code"] for r in rejected] == ["invalidRequest"] * expected_rejected
    codes = Counter(d.header("x-error-code") for d in dead)
    assert codes == expected_dead + Counter({"unreadable-record": 1})  # the damaged batch
    assert len(dead) == expected_dead.total() + 1  # none twice
    _assert_kept_what_can_be_kept(dead)


def _created(goods: list[str], rid: str) -> Any:
    wanted = {*goods, rid}
    return lambda got: wanted <= {e.json.get("referralId") for e in got}


def _assert_kept_what_can_be_kept(dead: list[Received]) -> None:
    by_value = {d.value: d for d in dead if d.header("x-error-code") == "not-json"}
    null_header = by_value[b"garbage"]
    assert null_header.headers["b"] == b"1"
    assert "a-null" in null_header.headers  # a null value stays a header
    assert by_value[b"garbage with a long key"].key == b"k" * 8192
    unreadable = [d for d in dead if d.header("x-error-code") == "unreadable-record"]
    assert {d.header("x-original-partition") for d in unreadable} == {"0"}
    assert all("cannot read" in d.header("x-error-message") for d in unreadable)


async def test_a_record_delivered_again_after_a_crash_is_not_dead_lettered_twice(
    each_store: Settings,
) -> None:
    """A new consumer group reads the topic from its start, as a replica does after a crash
    before its offsets were committed: the commands are duplicates, and the dead letters
    are not written again."""
    settings = each_store
    good = f"good-{uuid.uuid4()}"
    records = [RawRecord(b"garbage"), RawRecord(b"{}", b"k", [(b"\xff", b"x")]), create(good)]
    async with running(settings), RawProducer(settings.kafka_bootstrap_servers) as producer:
        await producer.send_records(settings.commands_topic, 0, records)
        await collect(settings, [settings.events_topic], lambda got: len(got) >= 1)
        await collect(settings, [settings.dlq_topic], lambda got: len(got) >= 2)
    again = settings.model_copy(update={"consumer_group": f"again-{uuid.uuid4().hex[:8]}"})
    marker = f"marker-{uuid.uuid4()}"
    async with running(again), RawProducer(settings.kafka_bootstrap_servers) as producer:
        await producer.send_records(settings.commands_topic, 0, [create(marker)])
        events = await collect(settings, [settings.events_topic], lambda got: len(got) >= 2)
        dead = await collect(settings, [settings.dlq_topic], lambda got: len(got) >= 2)

    # Two referrals land on partitions of their own, so only each one's order is kept.
    assert sorted(e.json["referralId"] for e in events) == sorted([good, marker])
    assert sorted(d.header("x-error-code") for d in dead) == ["not-json", "unreadable-record"]
