"""Put records with arbitrary bytes on a real broker: Kafka v2 record batches built here,
byte by byte, and sent in a ProduceRequest through aiokafka's low-level client.

aiokafka's own producer encodes header keys as UTF-8 and always writes well-formed batches;
other clients (librdkafka, kcat) send any bytes, and brokers keep them. This module writes
what those clients can: header keys that are not UTF-8, null keys, values and header
values, many headers, and, for the families of damage, a batch whose CRC, compression
codec, compressed data, magic byte or record framing is wrong.
"""

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.util import calc_crc32c

#: Batch attribute bits: the compression codec, in the three lowest bits.
GZIP = 1
#: A codec number no client knows (Kafka defines 0 to 4).
UNKNOWN_CODEC = 7

Header = tuple[bytes, bytes | None]


@dataclass(frozen=True)
class RawRecord:
    """One record as it goes on the wire; every field may hold any bytes."""

    value: bytes | None
    key: bytes | None = None
    headers: Sequence[Header] = field(default_factory=tuple)


def varint(value: int) -> bytes:
    """Kafka's zigzag varint."""
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zigzag & ~0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


def _nullable(data: bytes | None) -> bytes:
    return varint(-1) if data is None else varint(len(data)) + data


def encode_record(record: RawRecord, offset_delta: int) -> bytes:
    """A v2 record: length, attributes, timestamp delta, offset delta, key, value, headers."""
    body = bytearray(b"\x00" + varint(0) + varint(offset_delta))
    body += _nullable(record.key) + _nullable(record.value) + varint(len(record.headers))
    for name, value in record.headers:
        body += varint(len(name)) + name + _nullable(value)
    return varint(len(body)) + bytes(body)


@dataclass(frozen=True)
class Damage:
    """What to spoil in a batch; the default spoils nothing."""

    crc_xor: int = 0
    magic: int = 2
    attributes: int = 0
    #: Applied to the records' bytes after they are laid out (e.g. to compress them).
    payload: Callable[[bytes], bytes] | None = None


def encode_batch(records: Sequence[bytes], damage: Damage = Damage()) -> bytes:
    """A v2 record batch of already encoded records (see ``encode_record``)."""
    payload = b"".join(records)
    if damage.payload is not None:
        payload = damage.payload(payload)
    timestamp = 1_700_000_000_000
    after_crc = (
        struct.pack(
            ">hiqqqhii",
            damage.attributes,
            len(records) - 1,
            timestamp,
            timestamp,
            -1,
            -1,
            -1,
            len(records),
        )
        + payload
    )
    crc = calc_crc32c(after_crc) ^ damage.crc_xor
    after_length = struct.pack(">ibI", 0, damage.magic, crc) + after_crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


def batch_of(records: Sequence[RawRecord], damage: Damage = Damage()) -> bytes:
    return encode_batch([encode_record(r, i) for i, r in enumerate(records)], damage)


class BrokerRefusedBatch(Exception):
    """The broker answered the produce request with an error code."""


class RawProducer:
    """Sends prebuilt record batches to one partition each, with acks from all replicas."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._client = AIOKafkaClient(bootstrap_servers=bootstrap_servers)

    async def __aenter__(self) -> Self:
        await self._client.bootstrap()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()

    async def send(self, topic: str, partition: int, batch: bytes) -> int:
        """Append one batch; returns the offset the broker gave its first record."""
        await self._client._wait_on_metadata(topic)
        leader = self._client.cluster.leader_for_partition(TopicPartition(topic, partition))
        request = ProduceRequest(
            transactional_id=None,
            required_acks=-1,
            timeout=10_000,
            topics=[(topic, [(partition, batch)])],
        )
        response = await self._client.send(leader, request)
        _, partitions = response.topics[0]
        _, error_code, base_offset, *_ = partitions[0]
        if error_code:
            raise BrokerRefusedBatch(f"{for_code(error_code).__name__} for {topic}/{partition}")
        return int(base_offset)

    async def send_records(
        self, topic: str, partition: int, records: Sequence[RawRecord]
    ) -> list[int]:
        """Each record in a batch of its own; returns their offsets."""
        return [await self.send(topic, partition, batch_of([record])) for record in records]
