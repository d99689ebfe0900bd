"""Kafka clients built from the settings (consumer, producer, topic creation), and the shape
of a record they hand over.

Security (SASL PLAIN/SCRAM, TLS with CA and client certificates) is translated into
aiokafka options in one place. The producer is neither idempotent nor transactional: the
delivery guarantee comes from the outbox and the processed-command records instead.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.helpers import create_ssl_context

from service.settings import SecurityProtocol, Settings

log = logging.getLogger(__name__)

#: Slack over ``max_record_bytes`` for the framing the service's own size count leaves out.
RECORD_FRAMING_BYTES = 16_384


class ConsumedRecord(Protocol):
    """What the service reads of a record polled from Kafka (aiokafka's ``ConsumerRecord``
    is one). A header value may be None: Kafka allows it, and other clients send it."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]] | None: ...


@dataclass(frozen=True, slots=True)
class PolledRecord:
    """A consumed record made here rather than by the client: what the benchmarks and tests
    hand to the consume side, and what stands for a record the client could not parse."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] | None = ()


def client_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": settings.kafka_client_id,
        "security_protocol": settings.kafka_security_protocol.value,
    }
    if settings.kafka_security_protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
            password=_secret(settings.kafka_ssl_key_password),
        )
    if settings.kafka_sasl_mechanism is not None:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism.value
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = _secret(settings.kafka_sasl_password)
    return options


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def make_consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **client_options(settings),
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        max_partition_fetch_bytes=max(settings.max_command_bytes * 2, 1_048_576),
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(settings.session_timeout_ms // 3, 100),
    )


def make_producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=False,
        linger_ms=0,  # a batch queues all its sends before awaiting them; lingering only delays
        # A record batch may be as large as the largest record, which the broker accepts
        # (message.max.bytes): aiokafka's 16 KiB default cut a pipeline batch's events into
        # dozens of produce batches, costing three times the CPU per record.
        max_batch_size=settings.max_record_bytes,
        max_request_size=settings.max_record_bytes + RECORD_FRAMING_BYTES,
        request_timeout_ms=15_000,
    )


async def ensure_topics(settings: Settings) -> int:
    """Create the service's topics that do not exist yet; return the most partitions of any
    topic commands are consumed from (what bounds the consumers that get work)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            *settings.command_topics,
            settings.events_topic,
            settings.rejections_topic,
            settings.dlq_topic,
        ]
        missing = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
            for name in dict.fromkeys(wanted)
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            log.info("created topics", extra={"topics": [topic.name for topic in missing]})
        described = await admin.describe_topics(list(dict.fromkeys(settings.command_topics)))
    finally:
        await admin.close()
    counts = [len(topic.get("partitions") or ()) for topic in described]
    return max(counts, default=settings.topic_partitions) or settings.topic_partitions
