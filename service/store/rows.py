"""How referrals and outbox records become database rows, the same for every backend.

A referral without a tenant is stored with the empty tenant ``''`` (tenant ids are never
empty), so (tenant, id) can be a primary key in both backends.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import msgspec

from service.codec import OutgoingRecord
from service.fast.referral import (
    AnyRecord,
    FastRecord,
    models_from_bytes,
    moment,
    stored_from_bytes,
    text_or_none,
)
from service.jsonio import dumps, loads
from service.store.base import ExpiryCandidate
from service.store.columns import READ_COLUMNS, Storage
from service.store.query import Position
from state import ReferralRecord
from state.fields import format_utc


def referral_document(record: AnyRecord) -> bytes:
    if isinstance(record, FastRecord):
        return record.encoded
    return record.referral.encoded(dumps)


def tenant_column(tenant_id: str | None) -> str:
    return tenant_id or ""


def tenant_of(column: str | None) -> str | None:
    return column or None


def referral_from_row(document: bytes | str, tenant: str | None) -> ReferralRecord:
    return models_from_bytes(document, tenant_of(tenant))


def consumed_from_row(document: bytes | str, tenant: str | None) -> AnyRecord:
    """A referral as the consume side loads it: read in C into the fast path's form when its
    document is in the canonical form, else validated by the models as ``referral_from_row``
    reads it (the read API and the CLI always read the models' form)."""
    encoded = document if isinstance(document, bytes) else document.encode()
    fast = stored_from_bytes(encoded, tenant_of(tenant))
    return fast if fast is not None else referral_from_row(document, tenant)


def expiry_candidate(
    document: bytes | str, tenant: str | None, expiration: datetime
) -> ExpiryCandidate:
    """What expiry needs of a stored referral, read without validating all of it: one
    document an older version stored and this one would refuse must not stop expiry."""
    raw = loads(document)
    etag = str(raw.get("eTag") or "")
    return ExpiryCandidate(str(raw["id"]), etag, tenant_of(tenant), expiration)


def expiration_of(record: AnyRecord) -> str | None:
    """The referral's expiration as stored text (seven digits, ``Z``)."""
    if isinstance(record, FastRecord):
        return text_or_none(record.referral.expiration_date_time)
    expires = record.referral.expiration_date_time
    return format_utc(expires) if expires is not None else None


def expiration_moment(record: AnyRecord) -> datetime | None:
    if isinstance(record, FastRecord):
        return moment(record.referral.expiration_date_time)
    return record.referral.expiration_date_time


Headers = tuple[tuple[str, bytes | None], ...]
_PACK: Final = msgspec.msgpack.Encoder()
_UNPACK: Final = msgspec.msgpack.Decoder(Headers)
_TO_TEXT: Final = msgspec.json.Encoder()
_FROM_TEXT: Final = msgspec.json.Decoder(Headers)


def headers_to_text(headers: Headers) -> str:
    """Headers as JSON text of base64 values, ``[["name","base64"],["name",null]]``:
    PostgreSQL's outbox column, and SQLite's before its schema 4. Encoded in C by msgspec
    (bytes as standard base64), the same text as the orjson and binascii of before at a
    third of the cost; replicas of an older version read it as their own."""
    return _TO_TEXT.encode(headers).decode()


def headers_from_text(text: str) -> Headers:
    return _FROM_TEXT.decode(text)


def headers_packed(headers: Headers) -> bytes:
    """Headers as SQLite's outbox stores them from its schema 4: MessagePack of the (name,
    value) pairs, encoded in C (measured ~9x cheaper than the JSON text of base64)."""
    return _PACK.encode(headers)


def headers_from_column(stored: str | bytes) -> Headers:
    """Headers as an outbox row holds them: packed bytes, or the JSON text that every
    PostgreSQL row and the SQLite rows stored before schema 4 hold."""
    if isinstance(stored, str):
        return headers_from_text(stored)
    return _UNPACK.decode(stored)


def outgoing_from_row(
    topic: str, key: bytes | None, value: bytes | None, headers: str | bytes, kind: str
) -> OutgoingRecord:
    return OutgoingRecord(
        topic,
        bytes(key) if key is not None else None,
        bytes(value) if value is not None else None,
        headers_from_column(headers),
        kind,
    )


def read_row(
    values: Sequence[object], time: Callable[[datetime | str], object]
) -> tuple[object, ...]:
    """Read column values (``columns.read_values``) as a backend binds them: times (a
    datetime, or the document's text) through ``time``, sets of e-mails as a JSON array."""
    return tuple(
        time(value) if column.storage is Storage.TIME and isinstance(value, datetime | str)
        else dumps(value).decode() if column.storage is Storage.EMAILS
        else value
        for column, value in zip(READ_COLUMNS, values, strict=True)
    )  # fmt: skip


def time_text(value: datetime | str) -> str:
    """A time column's value as SQLite stores it: seven-digit UTC text (a document's text
    is that already)."""
    return value if isinstance(value, str) else format_utc(value)


def position_of(value: datetime | str, tenant: str, referral_id: str) -> Position:
    """Where a page ends, from the order column's value of its last row."""
    text = format_utc(value) if isinstance(value, datetime) else value
    return Position(text, tenant, referral_id)
