"""The command pipeline end to end: commands in, events, rejections and dead letters out."""

import uuid
from decimal import Decimal
from typing import Any

import pytest

from service.settings import Settings
from tests.support.kafka_io import Producer, Received, collect, command, committed_offset
from tests.support.services import running

pytestmark = pytest.mark.broker

REFERRAL = {
    "name": "Contoso migration",
    "customerProfile": {"name": "Contoso", "address": {"country": "US"}},
    "details": {"dealValue": Decimal("125000.50"), "currency": "USD"},
    "unknownPartnerField": {"kept": True},
}


def by_type(records: list[Received], kind: str) -> list[Received]:
    return [r for r in records if r.headers.get("ce_type", b"").decode() == kind]


def events_of(settings: Settings, count: int) -> Any:
    return collect(settings, [settings.events_topic], lambda got: len(got) >= count)


async def test_create_accept_win_emits_the_three_events_in_order(service: Settings) -> None:
    referral_id = f"ref-{uuid.uuid4()}"
    async with Producer(service) as producer:
        await producer.structured(command("referral.create", referral_id, REFERRAL))
        await producer.binary(command("referral.accept", referral_id, correlationid="corr-1"))
        await producer.structured(command("referral.win", referral_id, {"statusReason": "Signed"}))

    events = await events_of(service, 3)

    assert [e.header("ce_type") for e in events] == [
        "referral.created",
        "referral.accepted",
        "referral.won",
    ]
    assert {e.key for e in events} == {referral_id.encode()}
    created, accepted, won = (e.json for e in events)
    assert [created["version"], accepted["version"], won["version"]] == [1, 2, 3]
    assert (won["previousStatus"], won["previousSubstatus"]) == ("Active", "Accepted")
    assert (won["status"], won["substatus"]) == ("Closed", "Won")
    assert won["referral"]["statusReason"] == "Signed"
    assert won["referral"]["details"]["dealValue"] == Decimal("125000.50")
    assert won["referral"]["unknownPartnerField"] == {"kept": True}
    assert events[1].header("ce_correlationid") == "corr-1"
    assert events[0].header("ce_subject") == referral_id
    assert events[2].header("ce_causationid") == won["commandId"]
    assert b"125000.50" in events[0].value  # the exact decimal, not a float rendering


async def test_each_rejection_code_comes_from_a_realistic_bad_command(settings: Settings) -> None:
    tenant_topic = f"{settings.commands_topic}-org-b"
    service = settings.model_copy(update={"tenant_topics": {"org-b": tenant_topic}})
    rid = f"ref-{uuid.uuid4()}"
    bad = {
        "invalidRequest": command("referral.create", f"ref-{uuid.uuid4()}",
                                  {"customerProfile": {"address": {"country": "Narnia"}}}),
        "itemNotFound": command("referral.accept", f"ref-{uuid.uuid4()}"),
        "conflict": command("referral.create", rid, REFERRAL),
        "preconditionFailed": command("referral.replace", rid, REFERRAL, ifmatch='"stale"'),
        "illegalTransition": command("referral.accept", rid),
    }  # fmt: skip
    impersonating = command("referral.accept", rid, tenantid="owner-org")
    async with running(service), Producer(service) as producer:
        await producer.structured(command("referral.create", rid, REFERRAL))
        await producer.structured(command("referral.decline", rid))
        for envelope in bad.values():
            await producer.structured(envelope)
        async with Producer(service, tenant_topic) as tenant:
            await tenant.structured(impersonating)
        bad["accessDenied"] = impersonating
        rejections = await collect(
            service, [service.rejections_topic], lambda got: len(got) >= len(bad)
        )

    codes = {r.json["commandId"]: r.json["code"] for r in rejections}
    assert codes == {envelope["id"]: code for code, envelope in bad.items()}
    invalid = next(r.json for r in rejections if r.json["code"] == "invalidRequest")
    assert invalid["details"][0]["target"] == "/customerProfile/address/country"
    assert all(r.header("ce_type") == "referral.command.rejected" for r in rejections)


GARBAGE: dict[str, tuple[bytes | None, list[tuple[str, bytes]]]] = {
    "not-json": (b"\x00\xffnot json at all", [("trace", b"\x01\x02")]),
    "not-cloudevent": (b'{"hello": "world"}', []),
    "unknown-type": (
        b'{"specversion":"1.0","id":"x1","type":"referral.delete","source":"s","subject":"r"}',
        [],
    ),
    "too-large": (b'{"specversion":"1.0","pad":"' + b"x" * 5000 + b'"}', []),
}


async def test_garbage_is_dead_lettered_byte_for_byte_and_processing_continues(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"max_command_bytes": 4096})
    async with running(limited):
        rid = f"ref-{uuid.uuid4()}"
        async with Producer(limited) as producer:
            for value, headers in GARBAGE.values():
                await producer.raw(value, b"garbage-key", headers)
            await producer.structured(command("referral.create", rid, REFERRAL))

        dead = await collect(limited, [limited.dlq_topic], lambda got: len(got) >= len(GARBAGE))
        events = await events_of(limited, 1)

    assert [e.json["referralId"] for e in events] == [rid]
    by_code = {d.header("x-error-code"): d for d in dead}
    assert set(by_code) == set(GARBAGE)
    for code, (value, headers) in GARBAGE.items():
        letter = by_code[code]
        assert letter.value == value
        assert letter.key == b"garbage-key"
        for name, raw in headers:
            assert letter.headers[name] == raw
        assert letter.header("x-original-topic") == limited.commands_topic
        assert int(letter.header("x-original-offset")) >= 0
        assert letter.header("x-error-message")


async def test_the_same_command_id_delivered_twice_has_one_effect(service: Settings) -> None:
    rid = f"ref-{uuid.uuid4()}"
    create = command("referral.create", rid, REFERRAL)
    accept = command("referral.accept", rid)
    async with Producer(service) as producer:
        for envelope in (create, create, accept, accept, create):
            await producer.structured(envelope)
        marker = command("referral.create", f"ref-{uuid.uuid4()}", REFERRAL)
        await producer.structured(marker)

    events = await collect(
        service,
        [service.events_topic, service.rejections_topic],
        lambda got: any(r.json.get("commandId") == marker["id"] for r in got),
    )

    mine = [e for e in events if e.key == rid.encode()]
    assert [e.header("ce_type") for e in mine] == ["referral.created", "referral.accepted"]


async def test_events_of_each_referral_stay_in_order_across_partitions(service: Settings) -> None:
    referrals = [f"ref-{n}-{uuid.uuid4()}" for n in range(24)]
    async with Producer(service) as producer:
        for rid in referrals:
            await producer.structured(command("referral.create", rid, REFERRAL))
        for rid in referrals:
            rename = [{"op": "replace", "path": "/name", "value": "v2"}]
            await producer.binary(command("referral.patch", rid, rename))
            await producer.structured(command("referral.accept", rid))
            await producer.binary(command("referral.lose", rid))

    events = await events_of(service, 4 * len(referrals))

    assert len({e.partition for e in events}) > 1
    for rid in referrals:
        mine = [e for e in events if e.key == rid.encode()]
        assert len({e.partition for e in mine}) == 1
        assert [e.json["version"] for e in mine] == [1, 2, 3, 4]
        assert [e.header("ce_type") for e in mine] == [
            "referral.created",
            "referral.updated",
            "referral.accepted",
            "referral.lost",
        ]


async def test_a_stopped_service_has_committed_the_offsets_of_every_batch_it_processed(
    settings: Settings,
) -> None:
    # The loop does not wait for a batch's commit before polling the next; stopping must.
    last: dict[int, int] = {}
    async with running(settings):
        async with Producer(settings) as producer:
            for n in range(30):
                rid = f"ref-{n}-{uuid.uuid4()}"
                sent = await producer.binary(command("referral.create", rid, REFERRAL))
                last[sent.partition] = max(last.get(sent.partition, -1), sent.offset)
        await events_of(settings, 30)

    committed = {p: await committed_offset(settings, p) for p in last}
    assert committed == {p: offset + 1 for p, offset in last.items()}
