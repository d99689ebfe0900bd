"""How the API sends a write's command and learns its outcome: one plain producer and one
outcome waiter (``service.api.writes.waiter``) per process, connected in the background so
that the API serves reads (and answers writes 503) while the broker is away.

A command id already processed in the caller's tenant is never sent again: its answer comes
from the waiter's memory of recent outcomes (the first attempt's very answer), else from the
store's processed-command record (what became of it and which referral; the referral as it
is now). A command that changes nothing produces no record on Kafka, so a wait that sees no
outcome also looks at the store. Past ``REFERRALS_API_WRITE_WAIT_SECONDS`` the write is
answered as pending; the outcome is still taken when it comes.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Final

from aiokafka import AIOKafkaProducer

from service.api.writes.commands import WriteCommand
from service.api.writes.waiter import CommandOutcome, OutcomeWaiter, TooManyWaiting
from service.client.connection import producer
from service.codec import command_record
from service.settings import Settings
from service.store import Store
from service.store.base import ProcessedCommand
from state import CommandKey

log = logging.getLogger(__name__)
#: How often a write that awaits its outcome also asks the store (a no-op leaves no record).
STORE_LOOK_SECONDS: Final = 0.25
#: How long a write waits for the first connection to the broker (made at the first write).
CONNECT_SECONDS: Final = 15.0
#: How long the broker may take to acknowledge a command before the write answers 503.
SEND_SECONDS: Final = 15.0


class WritesUnavailable(RuntimeError):
    """The broker (or the outcome waiter) is not answering: try again later."""


@dataclass(frozen=True, slots=True)
class Settled:
    """A command's outcome: the waiter's (exact), or the store's record of it."""

    outcome: CommandOutcome | None = None
    stored: ProcessedCommand | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """Sent; no outcome within the wait."""


class Writes:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.waiter = OutcomeWaiter(settings)
        self._producer: AIOKafkaProducer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Set once the first connection attempt ended, whichever way.
        self._attempted = asyncio.Event()

    def _start(self) -> None:
        """Connect at the first write, so an API that is only read never reaches for Kafka."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._connect()),
                asyncio.create_task(self.waiter.run()),
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _connect(self) -> None:
        while self._producer is None:
            sender = producer(self.settings)
            try:
                await sender.start()
                self._producer = sender
            except Exception as error:  # retried: the API serves reads meanwhile
                log.warning("write API: broker not reachable", extra={"error": str(error)})
            finally:
                if self._producer is not sender:
                    await sender.stop()  # also when cancelled: it closes what it made
            self._attempted.set()
            if self._producer is None:
                await asyncio.sleep(self.settings.retry_max_seconds)

    async def known(self, key: CommandKey) -> Settled | None:
        """What became of the command ``key`` names, if it was processed."""
        recent = self.waiter.recent(key)
        if recent is not None:
            return Settled(recent)
        stored = await self.store.processed(key)
        return Settled(stored=stored) if stored is not None else None

    async def submit(self, command: WriteCommand, wait_seconds: float) -> Settled | Pending:
        """The outcome of ``command``, sent unless its id was seen before (then the first
        attempt's outcome, or its wait joined)."""
        key = command.key
        earlier = await self.known(key)
        if earlier is not None:
            return earlier
        future = self.waiter.awaiting(key)
        if future is None and self.waiter.waiting(key):  # sent, answered 202: not again
            future = self._expect(key)
        if future is None:
            future = await self._send(command)
        return await self._wait(key, future, wait_seconds)

    async def _connected_producer(self) -> AIOKafkaProducer:
        """The producer, once it and the waiter are connected; a write waits only for the
        first attempt (at most ``CONNECT_SECONDS``), later ones not while the broker is away."""
        self._start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONNECT_SECONDS):
                await self._attempted.wait()
                if self._producer is not None:
                    await self.waiter.positioned.wait()
        if self._producer is None or not self.waiter.positioned.is_set():
            raise WritesUnavailable("the broker is not reachable")
        return self._producer

    async def _send(self, command: WriteCommand) -> asyncio.Future[CommandOutcome]:
        sender = await self._connected_producer()
        future = self._expect(command.key)
        record = command_record(command.envelope)
        try:
            sent = await asyncio.wait_for(
                await sender.send(
                    command.topic, value=record.value, key=record.key, headers=list(record.headers)
                ),
                SEND_SECONDS,
            )
        except Exception as error:
            self.waiter.forget(command.key)
            log.warning("write API: a command was not sent", extra={"error": str(error)})
            raise WritesUnavailable("the broker did not take the command") from None
        self.waiter.sent_at(command.key, (sent.topic, sent.partition, sent.offset))
        return future

    def _expect(self, key: CommandKey) -> asyncio.Future[CommandOutcome]:
        try:
            return self.waiter.expect(key)
        except TooManyWaiting as error:
            raise WritesUnavailable(str(error)) from None

    async def _wait(
        self, key: CommandKey, future: asyncio.Future[CommandOutcome], wait_seconds: float
    ) -> Settled | Pending:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                return Settled(
                    await asyncio.wait_for(asyncio.shield(future), min(left, STORE_LOOK_SECONDS))
                )
            stored = await self.store.processed(key)
            if stored is not None and stored.outcome not in ("applied", "rejected"):
                return Settled(stored=stored)  # a no-op or a dead letter: no outcome record
        stored = await self.store.processed(key)
        if stored is not None:
            return Settled(stored=stored)
        self.waiter.forget(key)
        return Pending()
