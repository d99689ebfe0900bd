"""Send commands and wait for their outcomes, one command or thousands at once.

An outcome is whatever the service produced for a command: events and rejections carry
the command id as ``causationid``; a dead letter names the command's topic, partition and
offset. Each command goes to the commands topic of the settings unless it names its own
(a tenant's, in multi-tenant mode).
A command that changed nothing produces no record, so the wait also ends when the
service's consumer group has committed past the command. Its events were published before
that commit, so once every command is settled the watched topics are read to their end.
"""

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.client.connection import (
    group_offsets,
    headers_of,
    partitions_of,
    producer,
    reader,
    started,
)
from service.client.reader import place_at_end
from service.client.tracing import NO_TRACING, SendTracing, Sent
from service.codec import CommandRecord, command_record, read_cloudevent
from service.dead_letters import ERROR_CODE, command_address
from service.settings import Settings

POLL_MS = 200


class AnswerKind(StrEnum):
    """What a command's sender was answered, in the order a summary lists them (the worst
    last). The service's kinds are spelled as its ``referrals_commands_total`` outcome label."""

    APPLIED = "applied"
    NOOP = "noop"
    REJECTED = "rejected"
    DEAD_LETTERED = "dead-lettered"
    TIMED_OUT = "timed-out"


KINDS: Final = tuple(AnswerKind)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A command record to send; its id, when it has one, is what its events cite. ``topic``:
    where it goes, when not to the settings' commands topic; ``origin``: the trace context
    its envelope names (``traceparent``, ``tracestate``), if any."""

    command_id: str | None
    record: CommandRecord
    topic: str | None = None
    origin: tuple[tuple[str, str], ...] = ()


def outgoing(envelope: Mapping[str, Any]) -> Outgoing:
    origin = tuple(
        (name, envelope[name])
        for name in ("traceparent", "tracestate")
        if isinstance(envelope.get(name), str)
    )
    return Outgoing(str(envelope["id"]), command_record(envelope), origin=origin)


@dataclass
class CommandAnswer:
    """What the service answered one sent command, as far as it has answered yet."""

    command_id: str | None
    partition: int
    offset: int
    events: list[dict[str, Any]] = field(default_factory=list)
    rejection: dict[str, Any] | None = None
    dead_letter: dict[str, str] | None = None
    acknowledged: bool = False
    #: The commands topic it was sent to (the settings' one when not given).
    topic: str | None = None

    @property
    def settled(self) -> bool:
        return self.acknowledged or self.rejection is not None or self.dead_letter is not None

    @property
    def kind(self) -> AnswerKind:
        if self.rejection is not None:
            return AnswerKind.REJECTED
        if self.dead_letter is not None:
            return AnswerKind.DEAD_LETTERED
        if self.events:
            return AnswerKind.APPLIED
        return AnswerKind.NOOP if self.acknowledged else AnswerKind.TIMED_OUT

    @property
    def code(self) -> str | None:
        """The rejection's reason or the dead letter's error code."""
        if self.rejection is not None:
            return str((self.rejection.get("data") or {}).get("code"))
        return self.dead_letter.get(ERROR_CODE) if self.dead_letter is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command_id,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "outcome": self.kind,
            "code": self.code,
            "events": self.events,
            "rejection": self.rejection,
            "deadLetter": self.dead_letter,
        }


async def send_and_wait(
    settings: Settings,
    commands: Sequence[Outgoing],
    wait_seconds: float,
    progress: Callable[[int], None] | None = None,
    tracing: SendTracing = NO_TRACING,
) -> list[CommandAnswer]:
    """Publish the commands in order and wait up to ``wait_seconds`` for every outcome.

    ``progress`` is called with the number of commands newly settled, as they settle; the
    sending is traced as ``tracing`` says (``service.client.tracing``).
    """
    watch, offsets, sender = reader(settings), group_offsets(settings), producer(settings)
    async with started(watch, offsets, sender):
        watched = [settings.events_topic, settings.rejections_topic, settings.dlq_topic]
        partitions = await partitions_of(watch, watched)
        watch.assign(partitions)
        if partitions:
            await place_at_end(watch, partitions)  # before anything is sent
        with tracing.sending(settings.commands_topic, commands) as traced:
            outcomes = await _publish(sender, settings.commands_topic, commands, traced)
        matcher = _Matcher(settings, outcomes)
        await _wait(watch, offsets, matcher, time.monotonic() + wait_seconds, progress)
        return outcomes


async def _publish(
    sender: AIOKafkaProducer, default_topic: str, commands: Sequence[Outgoing], traced: Sent
) -> list[CommandAnswer]:
    pending = [
        await sender.send(
            c.topic or default_topic,
            value=c.record.value,
            key=c.record.key,
            headers=[*c.record.headers, *traced.headers(index)],
        )
        for index, c in enumerate(commands)
    ]
    sent = await asyncio.gather(*pending)
    if len(sent) == 1:
        traced.acknowledged(sent[0].partition, sent[0].offset)
    return [
        CommandAnswer(c.command_id, m.partition, m.offset, topic=m.topic)
        for c, m in zip(commands, sent, strict=True)
    ]


class _Matcher:
    """Finds the outcome each record read from the watched topics belongs to."""

    def __init__(self, settings: Settings, outcomes: Iterable[CommandAnswer]) -> None:
        self.settings = settings
        self.outcomes = list(outcomes)
        self._by_id: dict[str, list[CommandAnswer]] = defaultdict(list)
        self._by_origin: dict[tuple[str, int, int], CommandAnswer] = {}
        for outcome in self.outcomes:
            if outcome.command_id is not None:
                self._by_id[outcome.command_id].append(outcome)
            where = (str(outcome.topic), outcome.partition, outcome.offset)
            self._by_origin[where] = outcome

    @property
    def pending(self) -> list[CommandAnswer]:
        return [outcome for outcome in self.outcomes if not outcome.settled]

    def take(self, polled: Mapping[TopicPartition, list[Any]]) -> None:
        for records in polled.values():
            for record in records:
                self._take(record)

    def _take(self, record: Any) -> None:
        if record.topic == self.settings.dlq_topic:
            self._take_dead_letter(record)
            return
        event = read_cloudevent(record.value, headers_of(record))
        for outcome in self._by_id.get(str(event.get("causationid")), ()):
            if record.topic == self.settings.rejections_topic:
                outcome.rejection = event
            else:
                outcome.events.append(event)

    def _take_dead_letter(self, record: Any) -> None:
        headers = {name: bytes(raw).decode(errors="replace") for name, raw in headers_of(record)}
        origin = command_address(headers)
        outcome = None if origin is None else self._by_origin.get(origin)
        if outcome is not None:
            outcome.dead_letter = headers


async def _wait(
    watch: AIOKafkaConsumer,
    offsets: AIOKafkaConsumer,
    matcher: _Matcher,
    deadline: float,
    progress: Callable[[int], None] | None,
) -> None:
    settled = 0
    while matcher.pending and time.monotonic() < deadline:
        if watch.assignment():
            matcher.take(await watch.getmany(timeout_ms=POLL_MS))
        else:  # the service has not created its topics: only a commit can settle a command
            await asyncio.sleep(POLL_MS / 1000)
        await _acknowledge(offsets, matcher)
        now_settled = len(matcher.outcomes) - len(matcher.pending)
        if progress is not None and now_settled > settled:
            progress(now_settled - settled)
        settled = now_settled
    if any(o.acknowledged and o.kind is AnswerKind.NOOP for o in matcher.outcomes):
        await _drain(watch, matcher, deadline)


async def _acknowledge(offsets: AIOKafkaConsumer, matcher: _Matcher) -> None:
    by_partition: dict[TopicPartition, list[CommandAnswer]] = defaultdict(list)
    for outcome in matcher.pending:
        topic = outcome.topic or matcher.settings.commands_topic
        by_partition[TopicPartition(topic, outcome.partition)].append(outcome)
    for tp, outcomes in by_partition.items():
        committed = await offsets.committed(tp)
        for outcome in outcomes:
            outcome.acknowledged = committed is not None and committed > outcome.offset


async def _drain(watch: AIOKafkaConsumer, matcher: _Matcher, deadline: float) -> None:
    """Read the watched topics up to the high watermark a fetch after the commits showed."""
    while time.monotonic() < deadline:
        polled = await watch.getmany(timeout_ms=POLL_MS * 2)
        matcher.take(polled)
        if not polled and await _at_end(watch):
            return


async def _at_end(watch: AIOKafkaConsumer) -> bool:
    for tp in watch.assignment():
        highwater = watch.highwater(tp)
        if highwater is None or await watch.position(tp) < highwater:
            return False
    return True


def summary(outcomes: Iterable[CommandAnswer]) -> dict[str, Any]:
    """Counts by outcome kind, and rejections and dead letters by their code."""
    counts: dict[str, int] = {kind.value: 0 for kind in KINDS}
    codes: dict[str, dict[str, int]] = {AnswerKind.REJECTED: {}, AnswerKind.DEAD_LETTERED: {}}
    for outcome in outcomes:
        counts[outcome.kind] += 1
        if outcome.kind in codes:
            by_code = codes[outcome.kind]
            by_code[str(outcome.code)] = by_code.get(str(outcome.code), 0) + 1
    return {
        **counts,
        "rejectedByCode": codes[AnswerKind.REJECTED],
        "deadLetteredByCode": codes[AnswerKind.DEAD_LETTERED],
    }
