"""Dead letters as an operator sees them, and their redrive to the topic they came from.

A dead letter goes back to its ``x-original-topic``: in multi-tenant mode a letter from a
tenant's topic is acted on as that tenant again, whatever it (or its replacement) declares,
and never sent to the shared commands topic, where ``tenantid`` is trusted. Another topic
may be chosen only for a letter from the shared commands topic or one without an origin.

A redriven record carries ``x-redrive-of`` (``<dlq topic>:<partition>:<offset>`` of the
dead letter) and ``x-redrive-time``. Before sending, the topics the letters go to (and the
shared commands topic) are read from the oldest selected dead letter's time for records
that carry those marks, so a dead letter is redriven once however often the redrive is
asked for. The dead letter's own headers (``x-error-*``, ``x-original-*``,
``x-truncated``...) are not sent back. A dead letter that is not the record as it came
(``dead_letters.ALTERED``) is only sent back replaced.
"""

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from service import dead_letters
from service.client.connection import header_text
from service.client.envelopes import is_envelope
from service.client.outcomes import Outgoing
from service.client.reader import Start, TopicMissing, now_ms, read_topic
from service.codec import CommandRecord, command_record
from service.jsonio import JsonRefused, loads
from service.kafka import ConsumedRecord
from service.settings import Settings

REDRIVE_OF: Final = "x-redrive-of"
REDRIVE_TIME: Final = "x-redrive-time"
_DEAD_LETTER_HEADERS: Final = frozenset(dead_letters.HEADERS)
#: How much earlier than a dead letter its redrive is looked for: clocks of hosts differ.
CLOCK_SKEW_MS: Final = 600_000

Header = tuple[str, bytes | None]


class NotRedrivable(ValueError):
    """The dead letter cannot be sent back as asked (cut to fit, or a replacement misfits)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record read from the dead-letter topic."""

    record: ConsumedRecord

    @property
    def headers(self) -> tuple[Header, ...]:
        return tuple(self.record.headers or ())

    @property
    def address(self) -> str:
        return f"{self.record.partition}:{self.record.offset}"

    @property
    def mark(self) -> str:
        return f"{self.record.topic}:{self.record.partition}:{self.record.offset}"

    def header(self, name: str) -> str | None:
        return header_text(self.record, name)

    @property
    def reason(self) -> str:
        return self.header(dead_letters.ERROR_CODE) or "?"

    @property
    def origin_topic(self) -> str | None:
        """The topic the record was read from (none for the service's own records)."""
        return self.header(dead_letters.ORIGINAL_TOPIC)

    @property
    def original_headers(self) -> tuple[Header, ...]:
        return tuple((n, v) for n, v in self.headers if n not in _DEAD_LETTER_HEADERS)

    def summary(self) -> dict[str, Any]:
        return {
            "deadLetter": self.address,
            "time": _iso(self.record.timestamp),
            "ageSeconds": round(max(now_ms() - self.record.timestamp, 0) / 1000, 1),
            "reason": self.reason,
            "message": self.header(dead_letters.ERROR_MESSAGE),
            "originTopic": self.origin_topic,
            "originPartition": _int(self.header(dead_letters.ORIGINAL_PARTITION)),
            "originOffset": _int(self.header(dead_letters.ORIGINAL_OFFSET)),
            "size": len(self.record.value or b""),
            "truncated": self.header("x-truncated") == "true",
            "key": _text(self.record.key),
            "redriveOf": self.header(REDRIVE_OF),
        }

    def detail(self) -> dict[str, Any]:
        """Everything in the record, readably: text where it is UTF-8, else base64."""
        return {
            **self.summary(),
            "headers": [{"name": n, **_readable(v)} for n, v in self.headers],
            "value": _readable(self.record.value),
        }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _text(value: object) -> str | None:
    """A string as it is, bytes decoded; anything else is no text."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None


def _readable(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        return {"text": None}
    try:
        return {"text": raw.decode()}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}


async def dead_letters_in(
    settings: Settings, start: Start, partitions: frozenset[int] | None = None
) -> list[DeadLetter]:
    """The dead letters from ``start``, oldest first."""
    letters = [
        DeadLetter(record)
        async for record in read_topic(settings, settings.dlq_topic, start, partitions=partitions)
    ]
    return sorted(
        letters,
        key=lambda letter: (letter.record.timestamp, letter.record.partition, letter.record.offset),
    )


def redrive_topic(letter: DeadLetter, shared_topic: str, chosen: str | None = None) -> str:
    """Where ``letter`` goes back: the topic it came from. ``chosen`` (``--topic``) may name
    another only for a letter from ``shared_topic`` or without an origin: a letter from any
    other topic (a tenant's) must act as the tenant that sent it, and nobody else."""
    origin = letter.origin_topic
    if chosen is None or chosen == origin:
        if origin is None:
            raise NotRedrivable(
                f"dead letter {letter.address} names no topic it came from (it is a record of"
                " the service's own, not a command it read); name one with --topic"
            )
        return origin
    if origin is None or origin == shared_topic:
        return chosen
    raise NotRedrivable(
        f"dead letter {letter.address} came from topic {origin!r}, a tenant's: it goes back"
        " there only, to act as that tenant; leave out --topic or name that topic"
    )


def redrive_record(
    letter: DeadLetter, replacement: Any = None, *, at_ms: int | None = None
) -> Outgoing:
    """The record to send back: the dead letter as it came, or ``replacement`` (JSON: a
    whole envelope, or the data of a binary-mode command) in its place."""
    marks = ((REDRIVE_OF, letter.mark.encode()), (REDRIVE_TIME, _iso(at_ms or now_ms()).encode()))
    if is_envelope(replacement):
        record = command_record(replacement)
        return Outgoing(
            _text(replacement.get("id")),
            CommandRecord(record.key, record.value, (*record.headers, *marks)),
        )
    if replacement is not None:
        return _replaced_data(letter, replacement, marks)
    altered = [name for name in dead_letters.ALTERED if letter.header(name) is not None]
    if altered:
        raise NotRedrivable(
            f"dead letter {letter.address} is not the record as it came ({', '.join(altered)});"
            " redrive it with --replace and the whole corrected command"
        )
    return Outgoing(
        _command_id(letter),
        CommandRecord(letter.record.key, letter.record.value, (*letter.original_headers, *marks)),
    )


def _command_id(letter: DeadLetter) -> str | None:
    """The command id the record holds, when it holds one: in a header or its envelope."""
    in_header = _ce_id(letter.original_headers)
    if in_header is not None or letter.record.value is None:
        return in_header
    try:
        envelope = loads(letter.record.value)
    except JsonRefused:
        return None
    return _text(envelope.get("id")) if isinstance(envelope, dict) else None


def _replaced_data(letter: DeadLetter, data: Any, marks: Sequence[Header]) -> Outgoing:
    headers = letter.original_headers
    if _ce_id(headers) is None:
        raise NotRedrivable(
            f"dead letter {letter.address} is not a binary-mode command (no ce_* headers);"
            " give the whole corrected envelope as the replacement"
        )
    record = command_record({**_ce_attributes(headers), "data": data}, structured=False)
    kept = tuple((n, v) for n, v in headers if not n.startswith("ce_") and n != "content-type")
    return Outgoing(
        _ce_id(headers),
        CommandRecord(letter.record.key, record.value, (*record.headers, *kept, *marks)),
    )


def _ce_attributes(headers: Iterable[Header]) -> dict[str, str]:
    return {
        n[3:]: v.decode(errors="replace")
        for n, v in headers
        if n.startswith("ce_") and v is not None
    }


def _ce_id(headers: Iterable[Header]) -> str | None:
    return _ce_attributes(headers).get("id")


async def already_redriven(
    settings: Settings, letters: Sequence[DeadLetter], topics: Iterable[str] = ()
) -> dict[str, tuple[str, str]]:
    """Dead-letter marks among ``letters`` already redriven -> where: the topic and the
    ``partition:offset`` there. Searched in ``topics`` and the shared commands topic (where
    every redrive went before redrives went back to their origin)."""
    if not letters:
        return {}
    wanted = {letter.mark for letter in letters}
    oldest = min(letter.record.timestamp for letter in letters)
    since = Start(at="time", time_ms=oldest - CLOCK_SKEW_MS)
    found: dict[str, tuple[str, str]] = {}
    for topic in dict.fromkeys([*topics, settings.commands_topic]):
        try:
            async for record in read_topic(settings, topic, since):
                mark = header_text(record, REDRIVE_OF)
                if mark in wanted:
                    found.setdefault(mark, (topic, f"{record.partition}:{record.offset}"))
        except TopicMissing:
            continue  # nothing was ever sent there
    return found


def select(
    letters: Iterable[DeadLetter], addresses: Sequence[str], reason: str | None
) -> list[DeadLetter]:
    """The dead letters at the given ``partition:offset`` addresses, in their order (else
    all), of ``reason`` when given."""
    kept = [letter for letter in letters if reason is None or letter.reason == reason]
    if not addresses:
        return kept
    at = {letter.address: letter for letter in kept}
    return [at[address] for address in dict.fromkeys(addresses) if address in at]
