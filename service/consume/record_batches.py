"""Kafka v2 record batches read leniently, and fetched raw: what the client could not parse,
told record by record where the damage is a record's, batch by batch where it is the batch's.

The checks are the ones aiokafka's parser makes, so a batch judged here fails there for the
same reason; unlike it, this reader goes on past a damaged record to the next one, and keeps
header names as bytes.
"""

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka import codec as codecs
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import ConsumerRecord

_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC_START = 21  # the CRC covers the batch from its attributes on
_CONTROL_BATCH = 0x20
_LOG_APPEND_TIME = 0x08
_DECOMPRESS = {
    1: codecs.gzip_decode,
    2: codecs.snappy_decode,
    3: codecs.lz4_decode,
    4: codecs.zstd_decode,
}
#: What a raw fetch of one partition may return; a batch larger than this is cut short.
RAW_FETCH_BYTES = 16 * 1024 * 1024
#: Some brokers (Tansu) answer a fetch that may not wait with no partitions at all.
_RAW_FETCH_WAIT_MS = 10

Header = tuple[bytes, bytes | None]
Polled = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]


@dataclass(frozen=True)
class RawRecord:
    """A record as it is on the wire: header names are bytes, whatever they hold."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]


@dataclass(frozen=True)
class Unreadable:
    """Offsets ``offset``..``last_offset`` of one partition that the client cannot read:
    one record, or a whole batch when the damage is the batch's (then ``record`` is None)."""

    topic: str
    partition: int
    offset: int
    last_offset: int
    reason: str
    record: RawRecord | None = None


class _Malformed(Exception):
    """Why bytes are not a record or a batch; the message never quotes the bytes."""


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise _Malformed(f"a field of {size} bytes runs past the end")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def varint(self) -> int:
        value = 0
        for shift in range(0, 70, 7):
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (value >> 1) ^ -(value & 1)
        raise _Malformed("a varint longer than 64 bits")

    def nullable(self) -> bytes | None:
        size = self.varint()
        return None if size == -1 else self.take(size)

    def left(self) -> int:
        return len(self.data) - self.pos


def _record(body: bytes, base_offset: int, timestamp: int, append_time: bool) -> RawRecord:
    cursor = _Cursor(body)
    cursor.take(1)  # attributes: unused in v2
    delta, offset_delta = cursor.varint(), cursor.varint()
    key, value, count = cursor.nullable(), cursor.nullable(), cursor.varint()
    if count < 0:
        raise _Malformed("a negative header count")
    headers = tuple((cursor.take(cursor.varint()), cursor.nullable()) for _ in range(count))
    if cursor.left():
        raise _Malformed("a record longer than its fields")
    return RawRecord(
        base_offset + offset_delta, timestamp + (0 if append_time else delta), key, value, headers
    )


def _entry(
    tp: TopicPartition, body: bytes, base: int, index: int, timestamp: int, append_time: bool
) -> RawRecord | Unreadable:
    """The record, or why the client cannot read it (with the record, where it parses)."""
    try:
        record = _record(body, base, timestamp, append_time)
    except _Malformed as error:  # its offset delta may be what is damaged: count instead
        return Unreadable(tp.topic, tp.partition, base + index, base + index, str(error))
    for index, (name, _) in enumerate(record.headers):
        try:
            name.decode()
        except UnicodeDecodeError:
            reason = f"the key of header {index} is not UTF-8"
            return Unreadable(tp.topic, tp.partition, record.offset, record.offset, reason, record)
    return record


@dataclass
class _Batch:
    first: int
    last: int
    failure: str | None = None
    entries: list[RawRecord | Unreadable] = field(default_factory=list)


def _payload(attributes: int, data: bytes) -> bytes:
    codec = attributes & 0x07
    if not codec:
        return data
    if codec not in _DECOMPRESS:
        raise _Malformed(f"compression codec {codec} is unknown")
    try:
        return bytes(_DECOMPRESS[codec](data))
    except Exception as error:
        raise _Malformed(f"its data does not decompress ({type(error).__name__})") from None


def _batch(tp: TopicPartition, data: bytes) -> _Batch:
    (base, _, _, magic, crc, attributes, last_delta, first_ts, max_ts, *_, count) = (
        _BATCH_HEADER.unpack_from(data)
    )
    batch = _Batch(base, base + last_delta)
    try:
        if magic < 2:
            raise _Malformed(f"a message set of format v{magic}, which is not read here")
        if calc_crc32c(data[_CRC_START:]) != crc:
            raise _Malformed("its CRC does not match")
        cursor = _Cursor(_payload(attributes, data[_BATCH_HEADER.size :]))
    except _Malformed as error:
        batch.failure = f"the record batch is damaged: {error}"
        return batch
    append_time = bool(attributes & _LOG_APPEND_TIME)
    timestamp = max_ts if append_time else first_ts
    for index in range(count):
        try:
            body = cursor.take(cursor.varint())
        except _Malformed as error:  # no record boundary any more: the rest is lost
            batch.failure = f"record {index} of the batch cannot be framed: {error}"
            return batch
        batch.entries.append(_entry(tp, body, base, index, timestamp, append_time))
    if attributes & _CONTROL_BATCH:
        batch.entries.clear()
    return batch


def batches(tp: TopicPartition, message_set: bytes) -> Iterator[_Batch]:
    """The complete v2 batches of a fetched message set, parsed leniently."""
    pos = 0
    while len(message_set) - pos >= _BATCH_HEADER.size:
        (length,) = struct.unpack_from(">i", message_set, pos + 8)
        end = pos + 12 + length
        if length < _BATCH_HEADER.size - 12 or end > len(message_set):
            return
        yield _batch(tp, message_set[pos:end])
        pos = end


@dataclass
class Verdict:
    """What a damaged batch holds from a given offset on, and where reading resumes."""

    delivered: list[ConsumerRecord[bytes, bytes]]
    unreadable: list[Unreadable]
    resume_at: int


def _consumer_record(tp: TopicPartition, record: RawRecord) -> ConsumerRecord[bytes, bytes]:
    headers = tuple((name.decode(), value) for name, value in record.headers)
    return ConsumerRecord(
        tp.topic,
        tp.partition,
        record.offset,
        record.timestamp,
        0,
        record.key,
        record.value,
        None,
        _size(record.key),
        _size(record.value),
        headers,
    )


def _size(data: bytes | None) -> int:
    return -1 if data is None else len(data)


def judge(tp: TopicPartition, message_set: bytes, offset: int) -> Verdict | None:
    """The verdict on the batch holding ``offset``, or None when it reads well here."""
    for batch in batches(tp, message_set):
        if batch.last < offset:
            continue
        if batch.failure is not None:
            gone = Unreadable(
                tp.topic, tp.partition, max(offset, batch.first), batch.last, batch.failure
            )
            return Verdict([], [gone], batch.last + 1)
        entries = [e for e in batch.entries if e.offset >= offset]
        bad = [e for e in entries if isinstance(e, Unreadable)]
        if not bad:
            return None
        good = [_consumer_record(tp, e) for e in entries if isinstance(e, RawRecord)]
        return Verdict(good, bad, batch.last + 1)
    return None


class RawFetcher:
    """Fetches a partition's bytes from an offset with a client of its own, started the
    first time it is needed (unreadable records are rare)."""

    def __init__(self, client_options: Mapping[str, Any]) -> None:
        self._options = dict(client_options)
        self._client: Any = None

    async def fetch(self, tp: TopicPartition, offset: int) -> bytes:
        if self._client is None:
            self._client = AIOKafkaClient(**self._options)
            await self._client.bootstrap()
        self._client.add_topic(tp.topic)
        await self._client.force_metadata_update()
        leader = self._client.cluster.leader_for_partition(tp)
        request = FetchRequest(
            _RAW_FETCH_WAIT_MS, 1, RAW_FETCH_BYTES, 0,
            [(tp.topic, [(tp.partition, offset, RAW_FETCH_BYTES)])],
        )  # fmt: skip
        response = await self._client.send(leader, request)
        for _, partitions in response.topics:
            for _, error_code, _, *data in partitions:
                return b"" if error_code else bytes(data[-1] or b"")
        return b""

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
