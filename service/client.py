"""The client side of the contract, for the CLI: send a command and wait for its outcome,
and read events back in a readable form.

An outcome is whatever the service produced for the command: events and rejections carry
the command id as ``causationid``; a dead letter names the command's partition and offset.
A command that changed nothing produces no record, so the wait also ends when the
service's consumer group has committed past the command.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.codec import REJECTED_TYPE, command_envelope, command_record, read_cloudevent
from service.dead_letters import ORIGINAL_OFFSET, ORIGINAL_PARTITION
from service.kafka import client_options
from service.settings import Settings
from state import CommandType


@dataclass
class Outcome:
    command_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    rejection: dict[str, Any] | None = None
    dead_letter: dict[str, str] | None = None
    acknowledged: bool = False

    @property
    def settled(self) -> bool:
        return self.acknowledged or self.rejection is not None or self.dead_letter is not None


def envelope_for(
    document: Any,
    command_type: str | None,
    subject: str | None,
    extensions: Mapping[str, str | None],
) -> dict[str, Any]:
    """A structured CloudEvent: the given envelope, or a command built around bare data.

    The extension attributes given (``ifmatch``, ``tenantid``, ...) are set on either.
    """
    if isinstance(document, Mapping) and "specversion" in document:
        return {**document, **{name: value for name, value in extensions.items() if value}}
    kind = command_type or CommandType.CREATE.value
    if kind == CommandType.CREATE and subject is None and isinstance(document, Mapping):
        subject = str(document.get("id") or uuid.uuid4())
    return command_envelope(
        kind, str(uuid.uuid4()), "urn:referrals-cli", subject, document, **extensions
    )


async def send_and_wait(
    settings: Settings, envelope: Mapping[str, Any], wait_seconds: float
) -> Outcome:
    outcome = Outcome(str(envelope["id"]))
    watched = [settings.events_topic, settings.rejections_topic, settings.dlq_topic]
    reader = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    offsets = AIOKafkaConsumer(**client_options(settings), group_id=settings.consumer_group)
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    await asyncio.gather(reader.start(), offsets.start(), producer.start())
    try:
        partitions = await _partitions(reader, watched)
        reader.assign(partitions)
        await reader.seek_to_end(*partitions)
        for tp in partitions:
            await reader.position(tp)
        record = command_record(envelope)
        sent = await producer.send_and_wait(
            settings.commands_topic,
            value=record.value,
            key=record.key,
            headers=list(record.headers),
        )
        command_tp = TopicPartition(settings.commands_topic, sent.partition)
        deadline = time.monotonic() + wait_seconds
        while not outcome.settled and time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=200)).values():
                for record in records:
                    _match(outcome, record, sent.partition, sent.offset, settings)
            committed = await offsets.committed(command_tp)
            outcome.acknowledged = committed is not None and committed > sent.offset
        if outcome.acknowledged:  # its events were published before the commit
            for records in (await reader.getmany(timeout_ms=200)).values():
                for record in records:
                    _match(outcome, record, sent.partition, sent.offset, settings)
        return outcome
    finally:
        await asyncio.gather(reader.stop(), offsets.stop(), producer.stop())


async def _partitions(reader: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    await reader.topics()  # refreshes the metadata the lookups below read
    return [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(reader.partitions_for_topic(topic) or ())
    ]


def _match(outcome: Outcome, record: Any, partition: int, offset: int, settings: Settings) -> None:
    if record.topic == settings.dlq_topic:
        headers = {name: value.decode(errors="replace") for name, value in record.headers or ()}
        origin = (headers.get(ORIGINAL_PARTITION), headers.get(ORIGINAL_OFFSET))
        if origin == (str(partition), str(offset)):
            outcome.dead_letter = headers
        return
    event = read_cloudevent(record.value, record.headers or ())
    if event.get("causationid") != outcome.command_id:
        return
    if record.topic == settings.rejections_topic:
        outcome.rejection = event
    else:
        outcome.events.append(event)


def describe_event(event: Mapping[str, Any]) -> str:
    data = event.get("data") or {}
    kind = event.get("type", "?")
    if kind == REJECTED_TYPE:
        return (
            f"{event.get('time', '')}  {kind}  {data.get('referralId')}  {data.get('code')}: "
            f"{data.get('message')}"
        )
    before = f"{data.get('previousStatus')}/{data.get('previousSubstatus')}"
    after = f"{data.get('status')}/{data.get('substatus')}"
    move = after if data.get("previousStatus") is None else f"{before} -> {after}"
    changed = ", ".join(data.get("changedPaths") or [])
    return (
        f"{event.get('time', '')}  {kind:<18} {data.get('referralId')}  v{data.get('version')}  "
        f"{move}  changed: {changed}"
    )


async def follow_events(settings: Settings, follow: bool) -> AsyncIterator[dict[str, Any]]:
    reader = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        partitions = await _partitions(reader, [settings.events_topic])
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        while True:
            polled = await reader.getmany(timeout_ms=500)
            for records in polled.values():
                for record in records:
                    yield read_cloudevent(record.value, record.headers or ())
            if not follow and all([await reader.position(tp) >= ends[tp] for tp in partitions]):
                return
    finally:
        await reader.stop()
