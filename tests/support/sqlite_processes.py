"""Processes sharing one SQLite store, for the tests of what a second process can break:
each function here is the body of a child process (``multiprocessing``, spawn), and the
recording publisher they share appends to one file, so its lines are in the order the
publishes were handed their entries, whichever process handed them."""

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from service.codec import OutgoingRecord
from service.store import BatchWrite, OutboxEntry, ReferralWrite, SqliteStore, open_store
from state import Applied, Command, CommandType, ReferralKey, ReferralRecord, decide

#: The longest a child process is given to end.
CHILD_TIMEOUT = 60.0
SPAWN = multiprocessing.get_context("spawn")


def record(key: bytes | None, value: str) -> OutgoingRecord:
    return OutgoingRecord("events", key, value.encode(), (), "referral.updated")


class SharedLog:
    """Publishes by appending each entry's seq, key and value as a line to one file
    (O_APPEND: lines of several processes never interleave), optionally after a pause that
    stands for the broker's acknowledgements, during which other processes run."""

    def __init__(self, path: Path, pause: float = 0.0) -> None:
        self.path = path
        self.pause = pause

    async def __call__(self, entries: list[OutboxEntry]) -> Collection[int]:
        lines = "".join(
            f"{e.seq} {(e.record.key or b'-').decode()} {(e.record.value or b'').decode()}\n"
            for e in entries
        )
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(descriptor, lines.encode())
        finally:
            os.close(descriptor)
        if self.pause:
            await asyncio.sleep(self.pause)  # the broker's round trip, with others beside
        return [e.seq for e in entries]

    def lines(self) -> list[tuple[int, str, str]]:
        """Each published entry's (seq, key, value), in the order they were handed over."""
        if not self.path.exists():
            return []
        rows = (line.split(" ") for line in self.path.read_text().splitlines())
        return [(int(seq), key, value) for seq, key, value in rows]


def start(target: Callable[..., None], *args: Any) -> SpawnProcess:
    process = SPAWN.Process(target=target, args=args)
    process.start()
    return process


def ended(processes: Sequence[SpawnProcess]) -> list[int | None]:
    """Wait (bounded) for each process to end; their exit codes."""
    for process in processes:
        process.join(CHILD_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join(CHILD_TIMEOUT)
    return [process.exitcode for process in processes]


def write_and_publish(
    database: Path,
    log: Path,
    stored: Path,
    name: str,
    keys: list[str],
    batches: int,
    barrier: Barrier,
) -> None:
    """Write ``batches`` batches, each a record for every key, and publish each as the
    consume loop does, then drain the backlog; write the seqs stored to ``stored``. Starts
    once every process of ``barrier`` is ready, so that they run together."""
    barrier.wait(CHILD_TIMEOUT)
    seqs = asyncio.run(_write_and_publish(database, log, name, keys, batches))
    stored.write_text("\n".join(map(str, seqs)))


async def _write_and_publish(
    database: Path, log: Path, name: str, keys: list[str], batches: int
) -> list[int]:
    store = SqliteStore(database)
    await store.open()
    publish, seqs = SharedLog(log, pause=0.003), []
    try:
        for n in range(batches):
            entries = [OutboxEntry(0, record(key.encode(), f"{name}-{n}")) for key in keys]
            written = await store.write(BatchWrite(outbox=entries))
            seqs += [entry.seq for entry in written]
            await store.publish_in_order(written, publish)
        await store.publish_in_order(None, publish)
    finally:
        await store.close()
    return seqs


def publish_and_hang(database: Path, keys: list[str], holding: Event) -> None:
    """Write a record for each key and publish them through a publisher that never
    returns: the process holds the keys' claims until it is killed."""
    asyncio.run(_publish_and_hang(database, keys, holding))


async def _publish_and_hang(database: Path, keys: list[str], holding: Event) -> None:
    store = SqliteStore(database)
    await store.open()
    written = await store.write(
        BatchWrite(outbox=[OutboxEntry(0, record(key.encode(), "doomed")) for key in keys])
    )

    async def hang(entries: list[OutboxEntry]) -> Collection[int]:
        holding.set()
        await asyncio.Event().wait()  # until the process is killed
        return []

    await store.publish_in_order(written, hang)


def open_together(database: Path, barrier: Barrier) -> None:
    """Open (and so create or upgrade) the store at the same moment as the others."""
    asyncio.run(_open_together(database, barrier))


async def _open_together(database: Path, barrier: Barrier) -> None:
    store = SqliteStore(database)
    barrier.wait(CHILD_TIMEOUT)
    await store.open(migrate=True)
    await store.close()


def accept(url: str, referral_id: str) -> None:
    """Load the referral from the store at ``url`` and write it accepted."""
    asyncio.run(_accept(url, referral_id))


async def _accept(url: str, referral_id: str) -> None:
    store = open_store(url)
    await store.open()
    try:
        loaded = (await store.load([ReferralKey(None, referral_id)]))[
            ReferralKey(None, referral_id)
        ]
        write = ReferralWrite(moved(loaded, CommandType.ACCEPT), loaded.version)
        await store.write(BatchWrite(referrals=[write]))
    finally:
        await store.close()


def created(referral_id: str) -> ReferralRecord:
    command = Command(type=CommandType.CREATE, command_id=f"create-{referral_id}",
                      referral_id=referral_id, data={"name": referral_id})  # fmt: skip
    decision = decide(None, command, datetime.now(UTC))
    assert isinstance(decision, Applied)
    return decision.record


def moved(record: ReferralRecord, kind: CommandType) -> ReferralRecord:
    """The referral after a command of ``kind``, as the consume loop would write it."""
    command = Command(type=kind, command_id=f"{kind}-{record.referral_id}-{os.getpid()}",
                      referral_id=record.referral_id, tenant_id=record.tenant_id)  # fmt: skip
    decision = decide(record, command, datetime.now(UTC))
    assert isinstance(decision, Applied)
    return decision.record


def make_secret(database: Path, barrier: Barrier, made: Path) -> None:
    """Ask the store for its secret at the same moment as the others; write it to ``made``."""
    made.write_bytes(asyncio.run(_make_secret(database, barrier)))


async def _make_secret(database: Path, barrier: Barrier) -> bytes:
    store = SqliteStore(database)
    await store.open()
    try:
        barrier.wait(CHILD_TIMEOUT)
        return await store.secret("shared")
    finally:
        await store.close()
