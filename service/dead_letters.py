"""Dead letters: a copy of a record the service could not take, saying why and where from.

Building one never raises, whatever the record holds (any key, header names of any text,
header values that are None, any counts and sizes), and the result always fits in
``max_bytes`` (at least ``MINIMAL_BYTES``). Three forms, the first that fits:

- the **copy**, byte for byte (key, value, headers), plus the ``x-error-*`` and
  ``x-original-*`` headers;
- the **cut** copy: the key kept up to ``KEY_BYTES``, the original headers while they take
  at most half the room, the value up to what is left, with ``x-truncated``,
  ``x-original-size`` and ``x-original-sha256`` of the value;
- the **minimal** one (``x-minimal: true``), also for a caller whose full copy could not be
  stored or published: no original header, the key replaced by the hex sha256 of the key,
  the value cut to what fits in ``MINIMAL_BYTES``, with the value's size and sha256 and
  ``x-original-headers-sha256`` (``headers_digest``) of the original headers.

A record with neither key nor value (Kafka allows it; no producer of the service's sends
it) is copied with an empty value and ``x-original-value-null: true``.

A header whose name the producer cannot encode as UTF-8 (a str with lone surrogates, as a
``surrogateescape`` decoding of raw bytes gives) is never copied. Whenever original headers
are left out, ``x-original-headers-dropped`` says how many; such a letter is no longer the
record as it came.
"""

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from service.codec import OutgoingRecord
from service.dead_letter_codes import MEANINGS

KIND: Final = "dead-letter"
#: Every ``x-error-code`` a dead letter may carry, with its meaning.
ERROR_CODES: Final = {code.value: meaning for code, meaning in MEANINGS.items()}
ERROR_CODE: Final = "x-error-code"
ERROR_MESSAGE: Final = "x-error-message"
ORIGINAL_TOPIC: Final = "x-original-topic"
ORIGINAL_PARTITION: Final = "x-original-partition"
ORIGINAL_OFFSET: Final = "x-original-offset"
TRUNCATED: Final = "x-truncated"
MINIMAL: Final = "x-minimal"
HEADERS_DROPPED: Final = "x-original-headers-dropped"
#: The record had neither key nor value; the copy's value is empty (no producer sends a
#: record with neither).
VALUE_NULL: Final = "x-original-value-null"
#: Headers a dead letter adds to the original ones; the x-original-* place is absent for
#: publish-refused, the x-truncated group only when the copy was cut to fit.
HEADERS: Final = (
    ERROR_CODE,
    ERROR_MESSAGE,
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    TRUNCATED,
    "x-original-size",
    "x-original-sha256",
    HEADERS_DROPPED,
    MINIMAL,
    "x-original-headers-sha256",
    VALUE_NULL,
)
#: Headers that say a dead letter is not the record as it came (redrive needs a fix).
ALTERED: Final = (TRUNCATED, HEADERS_DROPPED, MINIMAL)
KEY_BYTES: Final = 4096
#: The most a minimal dead letter takes, by ``record_bytes``.
MINIMAL_BYTES: Final = 4096
MESSAGE_BYTES: Final = 1000
_MINIMAL_MESSAGE_BYTES: Final = 300
_TOPIC_BYTES: Final = 255
#: Framing of one Kafka record and of each header, counted generously.
_RECORD_OVERHEAD: Final = 256
_HEADER_OVERHEAD: Final = 16

Header = tuple[str, bytes | None]
Origin = tuple[str, int | None, int | None]


def encode_dead_letter(
    *,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[Header],
    code: str,
    message: str,
    origin: Origin,
    max_bytes: int,
) -> OutgoingRecord:
    """The copy, the cut copy or the minimal dead letter: the first that fits."""
    original = tuple(headers)
    sendable = tuple(header for header in original if _encodable(header[0]))
    reasons = _reasons(code, message, origin, MESSAGE_BYTES)
    if len(sendable) < len(original):
        reasons += ((HEADERS_DROPPED, str(len(original) - len(sendable)).encode()),)
    if key is None and value is None:
        value, reasons = b"", (*reasons, (VALUE_NULL, b"true"))
    copy = OutgoingRecord(topic, key, value, (*sendable, *reasons), KIND)
    if record_bytes(copy.key, copy.value, copy.headers) <= max_bytes:
        return copy
    cut = _cut_to_fit(topic, key, value, original, sendable, reasons, max_bytes)
    if record_bytes(cut.key, cut.value, cut.headers) <= max_bytes:
        return cut
    return encode_minimal_dead_letter(
        topic=topic, key=key, value=value, headers=original, code=code, message=message,
        origin=origin, max_bytes=max_bytes,
    )  # fmt: skip


def encode_minimal_dead_letter(
    *,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[Header],
    code: str,
    message: str,
    origin: Origin,
    max_bytes: int = MINIMAL_BYTES,
) -> OutgoingRecord:
    """The smallest dead letter that still identifies the record (at most ``MINIMAL_BYTES``)."""
    original = tuple(headers)
    whole = value or b""
    hashed_key = None if key is None else hashlib.sha256(key).hexdigest().encode()
    marks = (
        *_reasons(code, message, origin, _MINIMAL_MESSAGE_BYTES),
        (MINIMAL, b"true"),
        *_value_marks(whole),
        (HEADERS_DROPPED, str(len(original)).encode()),
        ("x-original-headers-sha256", headers_digest(original).encode()),
    )
    room = max(min(max_bytes, MINIMAL_BYTES) - record_bytes(hashed_key, b"", marks), 0)
    return OutgoingRecord(topic, hashed_key, whole[:room], marks, KIND)


def command_address(headers: Mapping[str, str]) -> tuple[str, int, int] | None:
    """Where the command a dead letter replaces was read (topic, partition, offset), from
    the letter's headers decoded; None when they do not say (a publish-refused letter)."""
    try:
        partition, offset = int(headers[ORIGINAL_PARTITION]), int(headers[ORIGINAL_OFFSET])
    except (KeyError, ValueError):
        return None
    return headers.get(ORIGINAL_TOPIC, ""), partition, offset


def record_bytes(key: bytes | None, value: bytes | None, headers: Iterable[Header]) -> int:
    """An upper bound of the size of one record on the wire."""
    header_bytes = sum(
        len(name.encode("utf-8", "surrogatepass")) + len(raw or b"") + _HEADER_OVERHEAD
        for name, raw in headers
    )
    return len(key or b"") + len(value or b"") + header_bytes + _RECORD_OVERHEAD


def headers_digest(headers: Iterable[Header]) -> str:
    """The hex sha256 of the headers, in order: per header the 4-byte big-endian length of
    its name (UTF-8, lone surrogates as ``surrogatepass`` writes them), the name, then
    ``ffffffff`` for a None value or the value's 4-byte length and the value."""
    digest = hashlib.sha256()
    for name, raw in headers:
        encoded = name.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(4, "big") + encoded)
        digest.update(b"\xff" * 4 if raw is None else len(raw).to_bytes(4, "big") + raw)
    return digest.hexdigest()


def _encodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reasons(code: str, message: str, origin: Origin, message_bytes: int) -> tuple[Header, ...]:
    original_topic, partition, offset = origin
    why = (
        (ERROR_CODE, _text_bytes(code, 64)),
        (ERROR_MESSAGE, _text_bytes(message, message_bytes)),
    )
    where: tuple[Header, ...] = ((ORIGINAL_TOPIC, _text_bytes(original_topic, _TOPIC_BYTES)),)
    if partition is not None and offset is not None:
        where += (
            (ORIGINAL_PARTITION, str(partition).encode()),
            (ORIGINAL_OFFSET, str(offset).encode()),
        )
    return (*why, *where)


def _text_bytes(text: str, limit: int) -> bytes:
    """UTF-8 of at most ``limit`` bytes, cut on a character; what cannot be encoded is '?'."""
    encoded = text.encode("utf-8", "replace")[:limit]
    return encoded.decode("utf-8", "ignore").encode()


def _value_marks(whole: bytes) -> tuple[Header, ...]:
    return (
        (TRUNCATED, b"true"),
        ("x-original-size", str(len(whole)).encode()),
        ("x-original-sha256", hashlib.sha256(whole).hexdigest().encode()),
    )


def _cut_to_fit(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    original: Sequence[Header],
    sendable: tuple[Header, ...],
    reasons: tuple[Header, ...],
    max_bytes: int,
) -> OutgoingRecord:
    whole = value or b""
    marks = _value_marks(whole)
    kept_key = key[:KEY_BYTES] if key is not None else None
    kept = sendable
    if record_bytes(kept_key, b"", (*sendable, *reasons, *marks)) > max_bytes // 2:
        reasons = tuple(header for header in reasons if header[0] != HEADERS_DROPPED)
        kept = ((HEADERS_DROPPED, str(len(original)).encode()),)
    headers = (*kept, *reasons, *marks)
    room = max(max_bytes - record_bytes(kept_key, b"", headers), 0)
    return OutgoingRecord(topic, kept_key, whole[:room], headers, KIND)
