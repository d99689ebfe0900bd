# ruff: noqa: E501  (one hostile record per line reads best)
"""No record stops the service: hostile records and poison records on a real broker.

Every record here shares one key, hence one partition, so a record that stalled the
partition would hold up every good command published after it.
"""

import asyncio
import uuid
from typing import Any

import pytest

from service.jsonio import dumps
from service.settings import Settings
from state import Command
from tests.support.faults import (
    failing_for_poison,
    failing_for_poison_documents,
    fast_path_failing_for_poison,
)
from tests.support.http_probes import http_get
from tests.support.kafka_io import Producer, Received, collect, command
from tests.support.services import running

pytestmark = pytest.mark.broker

KEY = b"one-partition"
STRUCTURED = [("content-type", b"application/cloudevents+json")]
DOCUMENT = {"name": "Contoso", "details": {"dealValue": 10, "currency": "USD"}}


def raw_envelope(kind: str, subject: str, data: bytes, command_id: str) -> bytes:
    """An envelope written as text; ``subject`` goes in as written (escapes included)."""
    head = dumps({"specversion": "1.0", "id": command_id, "type": kind, "source": "urn:t"})
    return head[:-1] + b',"subject":"' + subject.encode() + b'","data":' + data + b"}"


def deep(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def hostile_records(rid: str) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    """(expected outcome, value, headers): a member of each family that used to crash or stall,
    aimed at the existing referral ``rid``."""
    doc_with = lambda extra: b'{"name":"n","extra":' + extra + b"}"  # noqa: E731
    patch_with = lambda value: b'[{"op":"add","path":"/extra","value":' + value + b"}]"  # noqa: E731
    return [
        ("dead", raw_envelope("referral.create", rid, deep(5000), "h-deep-envelope"), STRUCTURED),
        ("rejected", raw_envelope("referral.create", rid, doc_with(deep(300)), "h-deep-doc"), STRUCTURED),
        ("rejected", raw_envelope("referral.patch", rid, patch_with(deep(300)), "h-deep-patch"), STRUCTURED),
        ("dead", raw_envelope("referral.accept", "\\ud800", b"null", "h-surrogate-subject"), STRUCTURED),
        ("dead", raw_envelope("referral.create", rid, doc_with(b'"\\ud800"'), "h-surrogate-doc"), STRUCTURED),
        ("dead", raw_envelope("referral.create", rid, doc_with(b'"\xff\xfe"'), "h-bad-utf8"), STRUCTURED),
        ("dead", raw_envelope("referral.accept", "a\\u0000b", b"null", "h-nul-subject"), STRUCTURED),
        ("applied", raw_envelope("referral.create", f"{rid}-n", doc_with(b"1" * 40), "h-big-int"), STRUCTURED),
        ("applied", raw_envelope("referral.create", f"{rid}-e", doc_with(b"1e400"), "h-huge-number"), STRUCTURED),
        ("rejected", raw_envelope("referral.create", rid, doc_with(b'"' + b"x" * 40_000 + b'"'), "h-long"), STRUCTURED),
        ("rejected", raw_envelope("referral.patch", rid, b"[" + b",".join([b'{"op":"add","path":"/a","value":1}'] * 150) + b"]", "h-ops"), STRUCTURED),
        ("dead", b'{"specversion":"1.0","id":"h-b64","type":"referral.create","source":"u","data_base64":"%%%"}', STRUCTURED),
        ("dead", b"\x00\x01 not json", []),
        ("dead", b'{"specversion":"1.0","id":"h-dup","id":' + b'"x' * 200 + b'"}', STRUCTURED),
    ]  # fmt: skip


def outcomes_of(records: list[Received]) -> list[str]:
    return [record.headers.get("ce_type", b"dead-letter").decode() for record in records]


async def test_hostile_records_get_an_outcome_each_and_the_good_commands_behind_them_apply(
    settings: Settings,
) -> None:
    target = f"target-{uuid.uuid4()}"
    hostile = hostile_records(target)
    good = [f"good-{uuid.uuid4()}" for _ in hostile]
    expected = {kind: sum(1 for outcome, _, _ in hostile if outcome == kind) for kind in
                ("dead", "rejected", "applied")}  # fmt: skip
    async with running(settings), Producer(settings) as producer:
        await producer.raw(dumps(command("referral.create", target, DOCUMENT)), KEY, STRUCTURED)
        for (_, value, headers), rid in zip(hostile, good, strict=True):
            await producer.raw(value, KEY, headers)
            await producer.raw(dumps(command("referral.create", rid, DOCUMENT)), KEY, STRUCTURED)
        total_events = len(good) + 1 + expected["applied"]
        events = await collect(
            settings, [settings.events_topic], lambda got: len(got) >= total_events
        )
        dead = await collect(
            settings, [settings.dlq_topic], lambda got: len(got) >= expected["dead"]
        )
        rejected = await collect(
            settings, [settings.rejections_topic], lambda got: len(got) >= expected["rejected"]
        )
        status, _ = await http_get(settings.http_port, "/readyz")

    assert status == 200
    assert set(good) <= {e.json["referralId"] for e in events}
    assert len(events) == total_events
    assert len(dead) == expected["dead"]
    assert len(rejected) == expected["rejected"]
    assert {r.json["code"] for r in rejected} == {"invalidRequest"}
    hostile_values = {value for outcome, value, _ in hostile if outcome == "dead"}
    assert {d.value for d in dead} == hostile_values
    assert all(d.header("x-error-code") for d in dead)


def expected_attempts(stage: str, settings: Settings) -> int:
    """How often a poison record is tried: a decision that fails is dead-lettered in its own
    batch (the same input fails the same way); a write, once in its batch, then alone for
    each of the bounded attempts; never again."""
    return 1 if stage == "decide" else 1 + settings.poison_attempts


@pytest.mark.parametrize("stage", ["decide", "store"])
async def test_a_record_that_makes_the_code_fail_is_isolated_and_dead_lettered(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    import service.consume.decision
    import service.store.sqlite_updates

    calls: list[str] = []
    if stage == "decide":
        monkeypatch.setattr(
            service.consume.decision,
            "decide",
            failing_for_poison(service.consume.decision.decide, calls),
        )
        fast = fast_path_failing_for_poison(service.consume.decision.decide_fast)
        monkeypatch.setattr(service.consume.decision, "decide_fast", fast)
    else:
        failing = failing_for_poison_documents(
            service.store.sqlite_updates.referral_document, calls
        )
        monkeypatch.setattr(service.store.sqlite_updates, "referral_document", failing)
    before, after = f"before-{uuid.uuid4()}", f"after-{uuid.uuid4()}"
    poison = dumps(command("referral.create", f"poison-{uuid.uuid4()}", {"name": "poison"}))
    async with running(settings), Producer(settings) as producer:
        await producer.raw(dumps(command("referral.create", before, DOCUMENT)), KEY, STRUCTURED)
        await producer.raw(poison, KEY, STRUCTURED)
        await producer.raw(dumps(command("referral.create", after, DOCUMENT)), KEY, STRUCTURED)
        events = await collect(settings, [settings.events_topic], lambda got: len(got) >= 2)
        dead = await collect(settings, [settings.dlq_topic], lambda got: len(got) >= 1)
        _, metrics = await http_get(settings.http_port, "/metrics")

    assert sorted(e.json["referralId"] for e in events) == sorted([before, after])
    assert [d.value for d in dead] == [poison]
    letter = dead[0]
    assert letter.header("x-error-code") == "processing-failed"
    assert "RecursionError" in letter.header("x-error-message")
    assert f"in the {stage} stage" in letter.header("x-error-message")
    assert "maximum recursion" not in letter.header("x-error-message")  # no exception text
    assert f'referrals_poison_records_total{{stage="{stage}"}} 1.0' in metrics.decode()
    assert len(calls) == expected_attempts(stage, settings)


@pytest.mark.parametrize("stage", ["decide", "store"])
@pytest.mark.parametrize("timing", ["beside the batch in flight", "after the batch before"])
async def test_a_batch_that_failed_is_isolated_without_being_attempted_again_whole(
    one_record_batches: Settings, monkeypatch: pytest.MonkeyPatch, stage: str, timing: str
) -> None:
    """Whichever way the loop came to the poison record (decided beside the batch in flight,
    or in order once that batch landed; written in the loop or in flight), the failure is
    not repeated on the same inputs: its batch goes straight to isolation, and the record is
    tried once, then alone for each of the bounded attempts."""
    import service.consume.commits
    import service.consume.decision
    import service.consume.publisher
    import service.store.postgres_writes
    import service.store.sqlite_updates

    settings = one_record_batches
    decided_poison = asyncio.Event()
    failed: list[str] = []
    real_decide = service.consume.decision.decide

    def decide(current: Any, command_: Command, *rest: Any) -> Any:
        if isinstance(command_.data, dict) and command_.data.get("name") == "poison":
            decided_poison.set()
            if stage == "decide":
                failed.append("decide")
                raise RecursionError("maximum recursion depth exceeded")
        return real_decide(current, command_, *rest)

    def failing_for_poison_documents(real: Any) -> Any:
        def document(record: Any) -> bytes:
            if stage == "store" and record.referral.name == "poison":
                failed.append("store")
                raise RecursionError("maximum recursion depth exceeded")
            return real(record)

        return document

    # Beside: the batch before the poison command is held in flight (its publish waits)
    # until the poison command has been decided, which is then necessarily done ahead.
    hold = {"next publish": False, "held until decided": False}
    real_publish = service.consume.publisher.OutboxPublisher.publish

    async def publish(self: Any, entries: Any) -> None:
        if entries and hold["next publish"]:
            hold["next publish"] = False
            await asyncio.wait_for(decided_poison.wait(), 30)
            hold["held until decided"] = True
        await real_publish(self, entries)

    # A batch's offset commit starts once it has landed, so no batch is in flight then.
    first_commit = asyncio.Event()
    real_commit = service.consume.commits.OffsetCommits._commit

    async def commit(self: Any, offsets: Any) -> None:
        await real_commit(self, offsets)
        first_commit.set()

    monkeypatch.setattr(service.consume.commits.OffsetCommits, "_commit", commit)
    monkeypatch.setattr(service.consume.decision, "decide", decide)
    if stage == "decide":
        fast = fast_path_failing_for_poison(service.consume.decision.decide_fast)
        monkeypatch.setattr(service.consume.decision, "decide_fast", fast)
    else:  # what the fast path decides is what is written: it must see the poison too
        real_fast = service.consume.decision.decide_fast

        def decide_fast(current: Any, command_: Command, value: Any, data: Any, *rest: Any) -> Any:
            if data is not None and b'"name":"poison"' in data:
                decided_poison.set()
            return real_fast(current, command_, value, data, *rest)

        monkeypatch.setattr(service.consume.decision, "decide_fast", decide_fast)
    for store in (service.store.sqlite_updates, service.store.postgres_writes):
        failing = failing_for_poison_documents(store.referral_document)
        monkeypatch.setattr(store, "referral_document", failing)
    monkeypatch.setattr(service.consume.publisher.OutboxPublisher, "publish", publish)
    warm, before, after = (f"{name}-{uuid.uuid4()}" for name in ("warm", "before", "after"))
    poison = dumps(command("referral.create", f"poison-{uuid.uuid4()}", {"name": "poison"}))
    async with running(settings), Producer(settings) as producer:
        await producer.raw(dumps(command("referral.create", warm, DOCUMENT)), KEY, STRUCTURED)
        await collect(settings, [settings.events_topic], lambda got: len(got) >= 1)
        await asyncio.wait_for(first_commit.wait(), 30)  # the first batch has landed
        if timing == "beside the batch in flight":
            hold["next publish"] = True
            await producer.raw(dumps(command("referral.create", before, DOCUMENT)), KEY, STRUCTURED)
        await producer.raw(poison, KEY, STRUCTURED)
        await producer.raw(dumps(command("referral.create", after, DOCUMENT)), KEY, STRUCTURED)
        expected = 3 if timing == "beside the batch in flight" else 2
        events = await collect(settings, [settings.events_topic], lambda got: len(got) >= expected)
        dead = await collect(settings, [settings.dlq_topic], lambda got: len(got) >= 1)

    assert hold["held until decided"] is (timing == "beside the batch in flight")
    assert after in {e.json["referralId"] for e in events}
    assert [d.value for d in dead] == [poison]
    assert f"in the {stage} stage" in dead[0].header("x-error-message")
    assert failed == [stage] * expected_attempts(stage, settings)


async def test_an_outgoing_record_the_broker_refuses_is_rerouted_and_the_rows_behind_it_publish(
    settings: Settings,
) -> None:
    """An outbox row too large for any broker (left by an older version, or a broker whose
    limit shrank) would be retried forever; it is rerouted, cut to fit, after bounded tries."""
    from service.codec import OutgoingRecord
    from service.store import BatchWrite, OutboxEntry, open_store

    huge = OutgoingRecord(
        settings.events_topic, b"k", b"v" * 3_000_000, (("a", b"1"),), "referral.updated"
    )
    behind = OutgoingRecord(settings.events_topic, b"k", b'{"after": true}', (), "referral.updated")
    store = open_store(settings.database_url.get_secret_value())
    await store.open()
    try:
        await store.write(BatchWrite(outbox=[OutboxEntry(0, huge), OutboxEntry(0, behind)]))
    finally:
        await store.close()

    async with running(settings):
        events = await collect(settings, [settings.events_topic], lambda got: len(got) >= 1)
        dead = await collect(settings, [settings.dlq_topic], lambda got: len(got) >= 1)
        _, metrics = await http_get(settings.http_port, "/metrics")

    assert [e.value for e in events] == [b'{"after": true}']
    letter = dead[0]
    assert letter.header("x-error-code") == "publish-refused"
    assert letter.header("x-original-topic") == settings.events_topic
    assert letter.header("x-truncated") == "true"
    assert int(letter.header("x-original-size")) == 3_000_000
    assert letter.headers["a"] == b"1"
    assert letter.value is not None
    assert 0 < len(letter.value) <= settings.max_record_bytes
    assert 'referrals_poison_records_total{stage="publish"} 1.0' in metrics.decode()
