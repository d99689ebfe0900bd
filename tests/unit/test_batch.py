"""Deciding a polled batch without Kafka or a store: outcomes, what to write, in order."""

from datetime import UTC, datetime
from typing import Any

import pytest

from service.codec import WireLimits, read_cloudevent
from service.consume.decision import decide_batch, policy_of
from service.consume.ownership import Partitions
from service.consume.records import (
    ADDRESS_TENANT,
    Incoming,
    address_key,
    command_keys,
    dead_letter_keys,
    read_record,
    referral_keys,
)
from service.jsonio import dumps, loads
from service.kafka import PolledRecord
from service.settings import Settings
from service.tenancy import Tenancy
from state import CommandKey, ReferralKey

SETTINGS = Settings()
POLICY = policy_of(SETTINGS)
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
STRUCTURED = [("content-type", b"application/cloudevents+json")]


def Polled(
    offset: int, value: bytes | None, partition: int = 0, topic: str = "commands"
) -> PolledRecord:
    """A record as the consumer hands it over."""
    return PolledRecord(topic, partition, offset, 0, b"k", value, STRUCTURED)


def envelope(
    kind: str, subject: str | None, data: object = None, command_id: str = "", tenant: str = ""
) -> bytes:
    value = {"specversion": "1.0", "id": command_id or f"{kind}-{subject}", "type": kind,
             "source": "u", "subject": subject, "data": data,
             "tenantid": tenant or None}  # fmt: skip
    return dumps({k: v for k, v in value.items() if v is not None})


LIMITS = WireLimits(SETTINGS.max_command_bytes, SETTINGS.max_attribute_length)
TENANT_TOPICS = {"commands-a": "org-a", "commands-b": "org-b"}


def read(*values: bytes | None) -> list[Incoming]:
    return [read_record(Polled(offset, value), LIMITS) for offset, value in enumerate(values)]


def read_from(*records: tuple[str, bytes]) -> list[Incoming]:
    """Records each read from a topic, in multi-tenant mode."""
    return [
        read_record(Polled(offset, value, topic=topic), LIMITS, Tenancy(TENANT_TOPICS))
        for offset, (topic, value) in enumerate(records)
    ]


def test_a_batch_applies_in_order_and_later_commands_see_earlier_ones() -> None:
    batch = read(
        envelope("referral.create", "r-1", {"name": "Contoso"}),
        envelope("referral.accept", "r-1"),
        envelope("referral.win", "r-1"),
    )
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)
    assert [o.outcome for o in decided.outcomes] == ["applied"] * 3
    assert [e.record.kind for e in decided.write.outbox] == [
        "referral.created", "referral.accepted", "referral.won",
    ]  # fmt: skip
    assert [(w.record.version, w.expected_version) for w in decided.write.referrals] == [(3, 0)]
    assert [p.command_id for p in decided.write.processed] == [
        "referral.create-r-1", "referral.accept-r-1", "referral.win-r-1",
    ]  # fmt: skip


def test_duplicates_within_and_across_batches_have_no_effect_and_write_nothing() -> None:
    create = envelope("referral.create", "r-2", {"name": "x"}, command_id="same")
    seen_before = {CommandKey(None, "seen-before")}
    decided = decide_batch(read(create, create), {}, seen_before, NOW, SETTINGS, POLICY)
    assert [o.outcome for o in decided.outcomes] == ["applied", "duplicate"]
    again = decide_batch(read(create), {}, {CommandKey(None, "same")}, NOW, SETTINGS, POLICY)
    assert [o.outcome for o in again.outcomes] == ["duplicate"]
    assert (again.write.outbox, again.write.processed, again.write.referrals) == ([], [], [])


def test_a_record_reusing_a_decided_command_id_is_read_strictly_before_it_counts_as_one() -> None:
    # All three are read in the canonical form, the data unread: the second's names a key
    # twice, which the strict reader refuses; the third is the first again, byte for byte.
    create = envelope("referral.create", "r-3", {"name": "x"}, command_id="same")
    twice = create.replace(b'{"name":"x"}', b'{"name":"x","name":"y"}')
    batch = read(create, twice, create)
    assert [item.fast for item in batch] == [True, True, True]
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)
    assert [str(o.outcome) for o in decided.outcomes] == ["applied", "dead-lettered", "duplicate"]
    assert decided.fast == 1


def test_undecodable_records_and_refusals_each_get_one_outgoing_record_in_batch_order() -> None:
    batch = read(b"not json", envelope("referral.accept", "missing"), None)
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)
    assert [(o.outcome, o.code) for o in decided.outcomes] == [
        ("dead-lettered", "not-json"), ("rejected", "itemNotFound"), ("dead-lettered", "not-json"),
    ]  # fmt: skip
    assert [e.record.topic for e in decided.write.outbox] == [
        SETTINGS.dlq_topic, SETTINGS.rejections_topic, SETTINGS.dlq_topic,
    ]  # fmt: skip
    assert [(p.tenant_id, p.command_id, p.outcome) for p in decided.write.processed] == [
        (ADDRESS_TENANT, "commands/0/0", "dead-lettered"),
        (None, "referral.accept-missing", "rejected"),
        (ADDRESS_TENANT, "commands/0/2", "dead-lettered"),
    ]


def test_a_rejected_commands_record_keeps_the_reason_its_rejection_carries() -> None:
    create = {"name": "r"}
    batch = read(envelope("referral.create", "r1", create), envelope("referral.accept", "gone"),
                 envelope("referral.create", "r1", create, command_id="again"))  # fmt: skip
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)

    rejections = [
        e.record for e in decided.write.outbox if e.record.topic == SETTINGS.rejections_topic
    ]
    carried = [read_cloudevent(r.value, r.headers)["data"] for r in rejections]
    reasons = [p.rejection for p in decided.write.processed]
    assert reasons[0] is None
    assert [loads(reason or "null") for reason in reasons[1:]] == [
        {"code": data["code"], "message": data["message"], "details": data["details"]}
        for data in carried
    ]
    assert [data["code"] for data in carried] == ["itemNotFound", "conflict"]


def test_a_record_dead_lettered_before_a_crash_is_not_dead_lettered_again() -> None:
    batch = read(b"not json", b"not json either")
    seen = {address_key(batch[0])}
    decided = decide_batch(batch, {}, seen, NOW, SETTINGS, POLICY)
    assert [o.outcome for o in decided.outcomes] == ["duplicate", "dead-lettered"]
    assert [e.record.value for e in decided.write.outbox] == [b"not json either"]
    assert dead_letter_keys(batch) == {address_key(item) for item in batch}


def test_a_command_whose_decision_fails_is_dead_lettered_in_its_batch_and_the_rest_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.consume.decision

    real, real_fast = service.consume.decision.decide, service.consume.decision.decide_fast

    def decide(current: Any, command: Any, *rest: Any) -> Any:
        if command.referral_id == "r-poison":
            raise ValueError("a bug")
        return real(current, command, *rest)

    def decide_fast(current: Any, command: Any, *rest: Any) -> Any:
        if command.referral_id == "r-poison":
            raise ValueError("a bug of the fast path")
        return real_fast(current, command, *rest)

    monkeypatch.setattr(service.consume.decision, "decide", decide)
    monkeypatch.setattr(service.consume.decision, "decide_fast", decide_fast)
    batch = read(
        envelope("referral.create", "r-ok", {"name": "x"}),
        envelope("referral.create", "r-poison", {"name": "x"}),
        envelope("referral.accept", "r-ok"),
    )
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)
    assert [(o.outcome, o.code) for o in decided.outcomes] == [
        ("applied", ""), ("dead-lettered", "processing-failed"), ("applied", ""),
    ]  # fmt: skip
    letter = decided.write.outbox[1].record
    assert letter.topic == SETTINGS.dlq_topic
    assert letter.value == batch[1].value
    assert dict(letter.headers)["x-error-message"].startswith(b"ValueError in the decide stage")
    # Recorded under its address, not its command id: a redriven copy is processed afresh.
    assert [p.command_id for p in decided.write.processed] == [
        "referral.create-r-ok", "commands/0/1", "referral.accept-r-ok",
    ]  # fmt: skip
    assert decided.fast == 2  # the others; the poisoned one was handed to the models


def test_a_fast_decision_that_fails_is_handed_to_the_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.consume.decision

    def decide_fast(*_: Any) -> Any:
        raise ValueError("a bug of the fast path")

    monkeypatch.setattr(service.consume.decision, "decide_fast", decide_fast)
    batch = read(
        envelope("referral.create", "r-ok", {"name": "x"}), envelope("referral.accept", "r-ok")
    )
    assert all(item.fast for item in batch)
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)
    assert [(o.outcome, o.code) for o in decided.outcomes] == [("applied", ""), ("applied", "")]
    assert decided.fast == 0
    assert [w.record.version for w in decided.write.referrals] == [2]


def test_only_ids_the_store_can_hold_are_loaded_and_recorded() -> None:
    bad = "a\u0001b"
    batch = read(envelope("referral.create", None, {"id": bad, "name": "x"}, command_id="c-bad"))
    assert referral_keys(batch, SETTINGS.max_attribute_length) == set()
    assert command_keys(batch) == {CommandKey(None, "c-bad")}
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)
    assert [p.referral_id for p in decided.write.processed] == [None]
    assert [o.code for o in decided.outcomes] == ["invalidRequest"]


def test_a_command_from_a_tenant_topic_acts_as_that_tenant_whatever_it_declares() -> None:
    batch = read_from(
        ("commands-a", envelope("referral.create", "r-1", {"name": "x"})),
        ("commands-b", envelope("referral.accept", "r-1", tenant="org-a")),
        ("commands", envelope("referral.accept", "r-1", command_id="ops", tenant="org-a")),
    )

    assert [item.command.tenant_id for item in batch if item.command] == ["org-a", "org-b", "org-a"]
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)
    assert [(o.outcome, o.code) for o in decided.outcomes] == [
        ("applied", ""), ("rejected", "accessDenied"), ("applied", ""),
    ]  # fmt: skip


def test_two_tenants_may_use_the_same_referral_id_and_the_same_command_id() -> None:
    create = envelope("referral.create", "r-1", {"name": "x"}, command_id="same")
    batch = read_from(("commands-a", create), ("commands-b", create))

    assert referral_keys(batch, SETTINGS.max_attribute_length) == {
        ReferralKey("org-a", "r-1"), ReferralKey("org-b", "r-1"),
    }  # fmt: skip
    decided = decide_batch(batch, {}, set(), NOW, SETTINGS, POLICY)
    assert [o.outcome for o in decided.outcomes] == ["applied", "applied"]
    assert [w.record.key for w in decided.write.referrals] == [
        ReferralKey("org-a", "r-1"), ReferralKey("org-b", "r-1"),
    ]  # fmt: skip
    assert [(p.tenant_id, p.command_id) for p in decided.write.processed] == [
        ("org-a", "same"), ("org-b", "same"),
    ]  # fmt: skip
    seen = {CommandKey("org-a", "same")}
    again = decide_batch(batch, {}, seen, NOW, SETTINGS, POLICY)
    assert [o.outcome for o in again.outcomes] == ["duplicate", "applied"]


def test_the_backlog_is_drained_when_partitions_are_assigned_and_after_a_failure_only() -> None:
    partitions = Partitions()
    assert not partitions.backlog_possible
    partitions.assigned()
    assert partitions.backlog_possible
    partitions.drained()
    assert not partitions.backlog_possible
    partitions.failed()
    assert partitions.backlog_possible
