"""Dead letters: a copy of a record the service could not take, saying why and where from.

The copy is byte for byte (key, value, headers) when it fits in one outgoing record of
``max_bytes``. When it does not, a broker would refuse it and the outbox would retry it
forever, so it is cut to fit: the key is kept up to ``KEY_BYTES``, the original headers
while they take at most half the room, and the value up to what is left. Headers then say
so: ``x-truncated``, ``x-original-size`` and ``x-original-sha256`` of the value, and
``x-original-headers-dropped`` with their count when the headers were left out.
"""

import hashlib
from collections.abc import Iterable
from typing import Final

from service.codec import OutgoingRecord

KIND: Final = "dead-letter"
#: Every ``x-error-code`` a dead letter may carry.
ERROR_CODES: Final = {
    "not-json": "the value (or data_base64) is not JSON the service reads",
    "not-cloudevent": "neither a structured envelope nor ce_* headers of CloudEvents 1.0",
    "unknown-type": "the type is not one of the commands",
    "too-large": "the record is larger than the command size limit",
    "invalid-attribute": "an id, subject, tenantid, correlationid or ifmatch of the wrong shape",
    "processing-failed": "a poison record: processing failed on it alone, attempt after attempt",
    "publish-refused": "an outgoing record of the service that the broker refused repeatedly",
}
ERROR_CODE: Final = "x-error-code"
ERROR_MESSAGE: Final = "x-error-message"
ORIGINAL_TOPIC: Final = "x-original-topic"
ORIGINAL_PARTITION: Final = "x-original-partition"
ORIGINAL_OFFSET: Final = "x-original-offset"
#: Headers a dead letter adds to the original ones; the x-original-* place is absent for
#: publish-refused, the x-truncated group only when the copy was cut to fit.
HEADERS: Final = (
    ERROR_CODE,
    ERROR_MESSAGE,
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    "x-truncated",
    "x-original-size",
    "x-original-sha256",
    "x-original-headers-dropped",
)
KEY_BYTES: Final = 4096
#: Framing of one Kafka record and of each header, counted generously.
_RECORD_OVERHEAD: Final = 256
_HEADER_OVERHEAD: Final = 16

Header = tuple[str, bytes]


def encode_dead_letter(
    *,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[Header],
    code: str,
    message: str,
    origin: tuple[str, int | None, int | None],
    max_bytes: int,
) -> OutgoingRecord:
    original_topic, partition, offset = origin
    why = [(ERROR_CODE, code.encode()), (ERROR_MESSAGE, message.encode()[:1000])]
    where = [(ORIGINAL_TOPIC, original_topic.encode())]
    if partition is not None and offset is not None:
        where += [
            (ORIGINAL_PARTITION, str(partition).encode()),
            (ORIGINAL_OFFSET, str(offset).encode()),
        ]
    original = tuple(headers)
    copy = OutgoingRecord(topic, key, value, (*original, *why, *where), KIND)
    if record_bytes(copy.key, copy.value, copy.headers) <= max_bytes:
        return copy
    return _cut_to_fit(topic, key, value, original, (*why, *where), max_bytes)


def record_bytes(key: bytes | None, value: bytes | None, headers: Iterable[Header]) -> int:
    """An upper bound of the size of one record on the wire."""
    header_bytes = sum(len(name.encode()) + len(raw) + _HEADER_OVERHEAD for name, raw in headers)
    return len(key or b"") + len(value or b"") + header_bytes + _RECORD_OVERHEAD


def _cut_to_fit(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    original: tuple[Header, ...],
    reasons: tuple[Header, ...],
    max_bytes: int,
) -> OutgoingRecord:
    whole = value or b""
    marks: tuple[Header, ...] = (
        ("x-truncated", b"true"),
        ("x-original-size", str(len(whole)).encode()),
        ("x-original-sha256", hashlib.sha256(whole).hexdigest().encode()),
    )
    kept_key = key[:KEY_BYTES] if key is not None else None
    kept = original
    if record_bytes(kept_key, b"", (*original, *reasons, *marks)) > max_bytes // 2:
        kept = (("x-original-headers-dropped", str(len(original)).encode()),)
    headers = (*kept, *reasons, *marks)
    room = max(max_bytes - record_bytes(kept_key, b"", headers), 0)
    return OutgoingRecord(topic, kept_key, whole[:room], headers, KIND)
