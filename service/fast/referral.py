"""A stored referral as the fast path keeps it: its Struct and the bytes it is stored as.

A referral the fast path changed stays in this form through the batch, the store's write
and the cache of recent referrals; the models' form (``state.ReferralRecord``) is made from
its bytes only when a command must be decided by the models. Either form goes wherever a
stored referral goes (``AnyRecord``): both say their key, version and state, and the store
asks each for its document and columns through ``service.store.rows``.
"""

from datetime import UTC, datetime
from typing import Final

import msgspec

from service.fast import schema
from service.jsonio import dumps, loads
from state import (
    LEGAL_STATES,
    LifecycleState,
    ReferralKey,
    ReferralRecord,
    ReferralStatus,
    ReferralSubstatus,
)
from state import Referral as ReferralModel
from state.fields import STORED, with_ticks

#: Each state by its two values, so a record's state is looked up, not built; a legal one is
#: the object of ``state.LEGAL_STATES`` (the fast path's move table is keyed by those).
_STATES: Final = {
    (status.value, substatus.value): LifecycleState(status, substatus)
    for status in ReferralStatus
    for substatus in ReferralSubstatus
} | {(state.status.value, state.substatus.value): state for state in LEGAL_STATES}


class FastRecord(msgspec.Struct, frozen=True, gc=False):
    """A referral as the fast path stores it; never changed (a change makes another). Made
    by ``stored_record``, which works out its state once."""

    referral: schema.Referral
    encoded: bytes
    tenant_id: str | None
    state: LifecycleState

    @property
    def referral_id(self) -> str:
        referral_id = self.referral.id
        assert isinstance(referral_id, str)
        return referral_id

    @property
    def key(self) -> ReferralKey:
        return ReferralKey(self.tenant_id, self.referral_id)

    @property
    def version(self) -> int:
        version = self.referral.version
        return version if isinstance(version, int) else 0


AnyRecord = ReferralRecord | FastRecord


def stored_record(referral: schema.Referral, encoded: bytes, tenant_id: str | None) -> FastRecord:
    """A referral with a state (every stored one has), as the fast path keeps it."""
    state = _STATES[str(referral.status), str(referral.substatus)]
    return FastRecord(referral, encoded, tenant_id, state)


def fast_record(record: AnyRecord) -> FastRecord | None:
    """The record in the fast path's form, or None when its document is not in the canonical
    form (an unknown field, a solution, a value stored before a rule): the models judge it."""
    if isinstance(record, FastRecord):
        return record
    return stored_from_bytes(record.referral.encoded(dumps), record.tenant_id)


def stored_from_bytes(encoded: bytes, tenant_id: str | None) -> FastRecord | None:
    """A stored document in the fast path's form, if it is exactly what the Structs write:
    read in C instead of validated by the models (it was valid when stored)."""
    try:
        referral = schema.DECODE_REFERRAL(encoded)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    if (referral.status, referral.substatus) not in _STATES or schema.ENCODE(referral) != encoded:
        return None
    return stored_record(referral, encoded, tenant_id)


def model_record(record: AnyRecord) -> ReferralRecord:
    """The record in the models' form, read from its bytes as the store reads a row."""
    if isinstance(record, ReferralRecord):
        return record
    return models_from_bytes(record.encoded, record.tenant_id)


def models_from_bytes(document: bytes | str, tenant_id: str | None) -> ReferralRecord:
    """A stored document validated by the models (as valid when stored: reference data
    withdrawn since is still accepted)."""
    stored = ReferralModel.model_validate(loads(document), context={STORED: True})
    return ReferralRecord(stored, tenant_id)


def moment(text: str | msgspec.UnsetType | None) -> datetime | None:
    """A stored timestamp (seven digits, ``Z``) as the datetime the models hold."""
    if not isinstance(text, str):
        return None
    parsed = datetime.fromisoformat(text[:26]).replace(tzinfo=UTC)
    return with_ticks(parsed, int(text[26]))


def stored_time(text: str | msgspec.UnsetType | None) -> str | datetime:
    """A time column's value: the document's text, or the column's default when absent."""
    return text if isinstance(text, str) else datetime.min.replace(tzinfo=UTC)


def team_emails(referral: schema.Referral) -> list[str]:
    """The lower-cased e-mails of the referral's team, once each, sorted."""
    team = referral.team
    if not isinstance(team, list):
        return []
    return sorted({m.email.lower() for m in team if isinstance(m.email, str) and m.email})


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def country(referral: schema.Referral) -> str | None:
    profile = referral.customer_profile
    if not isinstance(profile, schema.CustomerProfile):
        return None
    address = profile.address
    return text_or_none(address.country) if isinstance(address, schema.Address) else None


def indexed_strings(referral: schema.Referral) -> tuple[tuple[str, str], ...]:
    """(JSON Pointer, value as stored) of each indexed string, as ``state.indexed`` lists
    them (a canonical document has no ``direction``)."""
    found = [
        (pointer, value)
        for pointer, value in (
            ("/engagementId", referral.engagement_id),
            ("/externalReferenceId", referral.external_reference_id),
        )
        if isinstance(value, str)
    ]
    team = referral.team if isinstance(referral.team, list) else ()
    found += [
        (f"/team/{index}/email", member.email.lower())
        for index, member in enumerate(team)
        if isinstance(member.email, str) and member.email
    ]
    return tuple(found)
