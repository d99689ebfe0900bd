"""Signed expiry commands: in multi-tenant mode a ``referral.expire`` on the shared commands
topic acts as the tenant it names only with a valid ``expirysignature``; unsigned, forged,
or signed for another command, referral, tenant or eTag, it is refused (accessDenied)."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.codec import Undecodable, WireLimits, command_record, decode_command
from service.consume.records import read_record
from service.dead_letter_codes import DeadLetterCode
from service.expiry import expire_command, signed_expire_command
from service.kafka import PolledRecord
from service.store import ExpiryCandidate
from service.tenancy import (
    EXPIRY_SIGNATURE,
    Tenancy,
    established,
    expiry_proven,
    expiry_signature,
)
from state import Command, CommandType, Rejected, decide

KEY = b"k" * 32
SHARED = "referral-commands"
TENANTS = Tenancy({"commands-org-a": "org-a", "commands-org-b": "org-b"}, KEY)
LIMITS = WireLimits()
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def expire(tenant: str | None = "org-a", **changes: Any) -> Command:
    """A ``referral.expire`` as read, signed with KEY unless ``changes`` say otherwise."""
    command = Command(type=CommandType.EXPIRE, command_id="x-1", referral_id="r-1",
                      if_match='"e"', tenant_id=tenant, declared_tenant_id=tenant)  # fmt: skip
    if tenant is not None:
        signature = expiry_signature(KEY, "x-1", "r-1", tenant, '"e"')
        command = replace(command, expiry_signature=signature)
    return replace(command, **changes)


def refused(command: Command) -> bool:
    decided = decide(None, command, NOW)
    return isinstance(decided, Rejected) and decided.code == "accessDenied"


def test_a_signed_expiry_on_the_shared_topic_acts_as_the_tenant_it_names() -> None:
    acting = established(expire(), SHARED, TENANTS)
    assert (acting.tenant_id, acting.declared_tenant_id) == ("org-a", "org-a")
    assert not refused(acting)


@pytest.mark.parametrize(
    "tampered",
    [
        {"expiry_signature": None},
        {"expiry_signature": "0" * 64},
        {"expiry_signature": "é" * 64},  # not even ASCII: refused, not a crash
        {"command_id": "x-2"},
        {"referral_id": "r-2"},
        {"if_match": '"other"'},
        {"if_match": None},
    ],
    ids=["missing", "forged", "not-ascii", "other-id", "other-referral", "other-etag", "no-etag"],
)
def test_an_unproven_expiry_naming_a_tenant_acts_as_none_and_is_refused(
    tampered: dict[str, str | None],
) -> None:
    acting = established(expire(**tampered), SHARED, TENANTS)
    assert (acting.tenant_id, acting.declared_tenant_id) == (None, "org-a")
    assert refused(acting)


def test_a_signature_for_one_tenant_proves_nothing_for_another() -> None:
    for_a = expire().expiry_signature
    as_b = expire("org-b", expiry_signature=for_a)
    assert refused(established(as_b, SHARED, TENANTS))


def test_without_the_key_no_expiry_is_proven() -> None:
    assert refused(established(expire(), SHARED, Tenancy(TENANTS.topic_tenants)))
    other_key = Tenancy(TENANTS.topic_tenants, b"another secret")
    assert refused(established(expire(), SHARED, other_key))


def test_a_tenants_own_topic_needs_no_signature() -> None:
    acting = established(expire(expiry_signature=None), "commands-org-a", TENANTS)
    assert acting.tenant_id == "org-a"
    assert not refused(acting)


def test_what_needs_no_proof_is_taken_as_declared() -> None:
    tenantless = established(expire(None), SHARED, TENANTS)
    assert tenantless.tenant_id is None
    assert not refused(tenantless)
    single_tenant = established(expire(expiry_signature=None), SHARED, Tenancy(expiry_key=KEY))
    assert single_tenant.tenant_id == "org-a"
    accept = Command(type=CommandType.ACCEPT, command_id="a", referral_id="r-1",
                     tenant_id="org-a", declared_tenant_id="org-a")  # fmt: skip
    assert established(accept, SHARED, TENANTS).tenant_id == "org-a"


@pytest.mark.parametrize("structured", [True, False], ids=["structured", "binary"])
def test_the_schedulers_command_is_proven_as_read_from_the_wire(structured: bool) -> None:
    due = ExpiryCandidate("r-1", '"e"', "org-a", NOW)
    envelope = expire_command(due, "urn:referral-lifecycle", KEY)
    assert envelope[EXPIRY_SIGNATURE]
    record = command_record(envelope, structured=structured)
    polled = PolledRecord(SHARED, 0, 0, 0, record.key, record.value, record.headers)
    incoming = read_record(polled, LIMITS, TENANTS)
    assert incoming.command is not None
    assert (incoming.command.tenant_id, expiry_proven(incoming.command, KEY)) == ("org-a", True)
    unsigned = {k: v for k, v in envelope.items() if k != EXPIRY_SIGNATURE}
    plain = command_record(unsigned, structured=structured)
    polled = PolledRecord(SHARED, 0, 1, 0, plain.key, plain.value, plain.headers)
    incoming = read_record(polled, LIMITS, TENANTS)
    assert incoming.command is not None
    assert refused(incoming.command)


def test_an_expiry_without_a_tenant_carries_no_signature_and_one_with_needs_the_key() -> None:
    due = ExpiryCandidate("r-1", '"e"', None, NOW)
    assert EXPIRY_SIGNATURE not in expire_command(due, "urn:referral-lifecycle", KEY)
    with pytest.raises(ValueError, match="expiry secret"):
        signed_expire_command("x-1", "urn:cli", "r-1", "org-a", None)


def test_the_signature_attribute_is_spelled_in_lower_case_and_shaped_like_an_identifier() -> None:
    envelope = signed_expire_command("x-1", "urn:cli", "r-1", "org-a", KEY)
    misspelled = {**envelope, "expirySignature": envelope.pop(EXPIRY_SIGNATURE)}
    with pytest.raises(Undecodable) as refused_spelling:
        decode_command(command_record(misspelled).value, (), LIMITS)
    assert refused_spelling.value.code == DeadLetterCode.MISSPELLED_ATTRIBUTE
    with pytest.raises(Undecodable) as refused_shape:
        decode_command(command_record({**envelope, EXPIRY_SIGNATURE: 7}).value, (), LIMITS)
    assert refused_shape.value.code == DeadLetterCode.INVALID_ATTRIBUTE


identifiers = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    signed=st.tuples(identifiers, identifiers, identifiers, identifiers),
    changed=st.integers(min_value=0, max_value=4),  # 4: nothing changed
    value=identifiers,
)
def test_a_signature_holds_for_exactly_the_fields_it_was_made_for(
    signed: tuple[str, str, str, str], changed: int, value: str
) -> None:
    sent = list(signed)
    if changed < len(sent):
        sent[changed] = value
    command_id, referral, tenant, etag = sent
    command = Command(type=CommandType.EXPIRE, command_id=command_id, referral_id=referral,
                      tenant_id=tenant, if_match=etag or None,
                      expiry_signature=expiry_signature(KEY, *signed))  # fmt: skip
    assert expiry_proven(command, KEY) == (tuple(sent) == signed)
