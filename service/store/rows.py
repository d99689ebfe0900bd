"""How referrals and outbox records become database rows, the same for every backend.

A referral without a tenant is stored with the empty tenant ``''`` (tenant ids are never
empty), so (tenant, id) can be a primary key in both backends.
"""

import base64
from datetime import datetime
from typing import Any

from service.codec import OutgoingRecord
from service.jsonio import dumps, loads
from service.store.base import ExpiryCandidate
from state import Referral, ReferralRecord
from state.fields import STORED, format_utc


def referral_document(record: ReferralRecord) -> bytes:
    return record.referral.encoded(dumps)


def tenant_column(tenant_id: str | None) -> str:
    return tenant_id or ""


def tenant_of(column: str | None) -> str | None:
    return column or None


def referral_from_row(document: bytes | str, tenant: str | None) -> ReferralRecord:
    stored = Referral.model_validate(loads(document), context={STORED: True})
    return ReferralRecord(stored, tenant_of(tenant))


def expiry_candidate(
    document: bytes | str, tenant: str | None, expiration: datetime
) -> ExpiryCandidate:
    """What expiry needs of a stored referral, read without validating all of it: one
    document an older version stored and this one would refuse must not stop expiry."""
    raw = loads(document)
    etag = str(raw.get("eTag") or "")
    return ExpiryCandidate(str(raw["id"]), etag, tenant_of(tenant), expiration)


def expiration_of(record: ReferralRecord) -> str | None:
    expires = record.referral.expiration_date_time
    return format_utc(expires) if expires is not None else None


def headers_to_text(headers: tuple[tuple[str, bytes], ...]) -> str:
    encoded = [[name, base64.b64encode(value).decode()] for name, value in headers]
    return dumps(encoded).decode()


def headers_from_text(text: str) -> tuple[tuple[str, bytes], ...]:
    pairs: list[Any] = loads(text)
    return tuple((str(name), base64.b64decode(value)) for name, value in pairs)


def outgoing_from_row(
    topic: str, key: bytes | None, value: bytes | None, headers: str, kind: str
) -> OutgoingRecord:
    return OutgoingRecord(
        topic,
        bytes(key) if key is not None else None,
        bytes(value) if value is not None else None,
        headers_from_text(headers),
        kind,
    )
