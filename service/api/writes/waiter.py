"""The write API's one listener to outcomes: it reads the events, rejections and dead-letter
topics from their end, by partition assignment (no consumer group), and settles the wait of
each command this process sent, keyed by its tenant and command id.

Memory is bounded: at most ``max_pending`` commands are awaited at once (a write beyond
answers 503), and the outcomes of the last ``max_recent`` commands are kept so that a retry
or a status request is answered as the first attempt was, without asking the store (which
keeps what became of each command, a rejection's reason too, for the retention period:
``service.api.writes.flow``).
"""

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.client.connection import header_text, headers_of, partitions_of, reader
from service.client.reader import place_at_end
from service.codec import read_cloudevent
from service.command_reading import is_structured
from service.dead_letters import ERROR_CODE, command_address
from service.settings import Settings
from state import CommandKey

log = logging.getLogger(__name__)
POLL_MS: Final = 100
#: How often topics that did not exist yet (the service creates them) are looked for.
DISCOVERY_SECONDS: Final = 1.0


class TooManyWaiting(RuntimeError):
    """More commands are awaited than the waiter keeps."""


@dataclass
class CommandOutcome:
    """What the service made of one command: its events' last referral, or its refusal."""

    events: list[dict[str, Any]] = field(default_factory=list)
    rejection: dict[str, Any] | None = None
    dead_letter_code: str | None = None

    @property
    def referral(self) -> dict[str, Any] | None:
        """The referral as the command's last event left it."""
        return _value(self.events[-1]).get("referral") if self.events else None


def _value(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


Address = tuple[str, int, int]


class OutcomeWaiter:
    def __init__(self, settings: Settings, max_pending: int = 10_000, max_recent: int = 10_000):
        self._settings = settings
        self._max_pending, self._max_recent = max_pending, max_recent
        self._pending: dict[CommandKey, asyncio.Future[CommandOutcome]] = {}
        self._by_address: dict[Address, CommandKey] = {}
        self._address_of: dict[CommandKey, Address] = {}
        self._recent: OrderedDict[CommandKey, CommandOutcome] = OrderedDict()
        #: Commands whose requests stopped waiting: their outcome is still kept when it comes.
        self._late: OrderedDict[CommandKey, None] = OrderedDict()
        self._consumer: AIOKafkaConsumer | None = None
        self._assigned: set[TopicPartition] = set()
        self.positioned = asyncio.Event()

    @property
    def topics(self) -> list[str]:
        s = self._settings
        return [s.events_topic, s.rejections_topic, s.dlq_topic]

    def recent(self, key: CommandKey) -> CommandOutcome | None:
        return self._recent.get(key)

    def awaiting(self, key: CommandKey) -> asyncio.Future[CommandOutcome] | None:
        return self._pending.get(key)

    def waiting(self, key: CommandKey) -> bool:
        """Whether this process sent the command and still expects its outcome."""
        return key in self._pending or key in self._late

    def expect(self, key: CommandKey) -> asyncio.Future[CommandOutcome]:
        """The future the command's outcome settles; register it BEFORE sending."""
        known = self._pending.get(key)
        if known is not None:
            return known
        if len(self._pending) >= self._max_pending:
            raise TooManyWaiting(f"{self._max_pending} writes are awaiting their outcome")
        future: asyncio.Future[CommandOutcome] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        return future

    def sent_at(self, key: CommandKey, address: Address) -> None:
        """Where the command landed: a dead letter names it by this address."""
        if key in self._pending:
            self._by_address[address] = key
            self._address_of[key] = address

    def forget(self, key: CommandKey) -> None:
        """Stop awaiting ``key`` (its request gave up); a late outcome is still kept."""
        if self._pending.pop(key, None) is not None:
            self._late[key] = None
            while len(self._late) > self._max_recent:
                self._unaddress(self._late.popitem(last=False)[0])

    def _unaddress(self, key: CommandKey) -> None:
        address = self._address_of.pop(key, None)
        if address is not None:
            self._by_address.pop(address, None)

    async def run(self) -> None:
        """Follow the outcome topics until cancelled; a broker outage is retried."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the broker went away: start over from the end
                self.positioned.clear()
                log.warning("outcome waiter lost the broker", extra={"error": str(error)})
                await asyncio.sleep(self._settings.retry_max_seconds)

    async def _follow(self) -> None:
        consumer = reader(self._settings)
        self._consumer, self._assigned = consumer, set()
        try:
            await consumer.start()
            await self._assign_new(consumer)
            self.positioned.set()
            loop = asyncio.get_running_loop()
            looked = loop.time()
            while True:
                if self._assigned:
                    polled = await consumer.getmany(timeout_ms=POLL_MS)
                    for records in polled.values():
                        for record in records:
                            self._take(record)
                else:
                    await asyncio.sleep(POLL_MS / 1000)
                if loop.time() - looked > DISCOVERY_SECONDS:
                    await self._assign_new(consumer)
                    looked = loop.time()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _assign_new(self, consumer: AIOKafkaConsumer) -> None:
        """Take partitions that appeared (a topic the service just made), from their end;
        those of a topic made now have no record an awaited command could own yet."""
        found = set(await partitions_of(consumer, self.topics))
        new = sorted(found - self._assigned, key=lambda tp: (tp.topic, tp.partition))
        if not new:
            return
        known = {tp: await consumer.position(tp) for tp in self._assigned}
        consumer.assign([*self._assigned, *new])
        for tp, position in known.items():
            consumer.seek(tp, position)
        if not self._assigned:
            await place_at_end(consumer, new)
        else:  # a partition made after start: all it holds came after
            await consumer.seek_to_beginning(*new)
        self._assigned |= set(new)

    def _take(self, record: Any) -> None:
        if record.topic == self._settings.dlq_topic:
            self._take_dead_letter(record)
            return
        headers = headers_of(record)
        if not is_structured(headers):  # binary: the headers say whose it is, unparsed
            cause = header_text(record, "ce_causationid")
            tenant = header_text(record, "ce_tenantid")
            if cause is None or not self._expected(CommandKey(tenant or None, cause)):
                return
        event = read_cloudevent(record.value, headers)
        cause = event.get("causationid")
        if not isinstance(cause, str):
            return
        key = CommandKey(event.get("tenantid") or None, cause)
        if not self._expected(key):
            return
        outcome = self._recent.get(key) or CommandOutcome()
        if record.topic == self._settings.rejections_topic:
            outcome.rejection = _value(event)
        else:
            outcome.events.append(event)
        self._settle(key, outcome)

    def _expected(self, key: CommandKey) -> bool:
        return key in self._pending or key in self._recent or key in self._late

    def _take_dead_letter(self, record: Any) -> None:
        headers = {name: bytes(raw).decode(errors="replace") for name, raw in headers_of(record)}
        address = command_address(headers)
        key = None if address is None else self._by_address.get(address)
        if key is not None:
            self._settle(key, CommandOutcome(dead_letter_code=headers.get(ERROR_CODE, "")))

    def _settle(self, key: CommandKey, outcome: CommandOutcome) -> None:
        """Keep the outcome among the recent ones and wake the request awaiting it. A
        command's several events (none yet known to follow) are settled by the first; the
        later ones update what is kept."""
        self._recent[key] = outcome
        self._recent.move_to_end(key)
        while len(self._recent) > self._max_recent:
            self._recent.popitem(last=False)
        self._late.pop(key, None)
        future = self._pending.pop(key, None)
        if future is not None and not future.done():
            future.set_result(outcome)
        self._unaddress(key)
