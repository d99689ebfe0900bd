"""CPU and wall cost of the store's batch write per command, on SQLite or PostgreSQL.

The bench mix (bench/workload.py) is read and decided a batch at a time as the service
does (``read_record``, ``decide_batch``, batches of 500), and the ``BatchWrite`` of each
batch is kept. Those writes are then replayed into a fresh store (a SQLite file in a
temporary directory, or a throwaway PostgreSQL database) as the consume loop lands them:
the backlog drained once at start, then per batch ``store.write`` and its publish through
``store.publish_in_order``, whose publisher acknowledges every entry, so that published
rows are deleted as the loop deletes them (SQLite: marked published by the publish under
its claim on the keys, deleted by the next batch's write; PostgreSQL: in the publish's own
transaction). CPU is ``time.process_time``, which counts every
thread of the process (the SQLite store writes on a thread of its own); the best of
several rounds is reported, each round on a fresh store.

Run: ``.venv/bin/python -m bench.store_write [--store sqlite|postgresql] [--rounds N]``.
"""

import argparse
import asyncio
import dataclasses
import tempfile
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.cpu import cpu_seconds
from bench.decision import NOW, _polled
from bench.postgres import admin_url, fresh_database
from bench.workload import command_stream
from service.codec import WireLimits
from service.consume.decision import decide_batch, policy_of
from service.consume.records import read_record
from service.runtime import tune_garbage_collection
from service.settings import Settings
from service.store import BatchWrite, OutboxEntry, Store, open_store
from state import CommandKey, ReferralKey, ReferralRecord

STORES = ("sqlite", "postgresql")


@dataclass(frozen=True, slots=True)
class WriteCost:
    store: str
    commands: int
    write_cpu_us: float
    publish_cpu_us: float
    write_wall_us: float
    publish_wall_us: float
    rounds: int = 1
    #: PostgreSQL's own CPU per command (its processes, read from /proc), where it runs here.
    server_cpu_us: float | None = None

    @property
    def cpu_us(self) -> float:
        return self.write_cpu_us + self.publish_cpu_us

    def describe(self) -> str:
        return (
            f"{self.store}: {self.write_cpu_us:.1f} µs of CPU per command to write"
            f" (`store.write`, wall {self.write_wall_us:.1f}), {self.publish_cpu_us:.1f} to"
            f" publish and delete (`publish_in_order`, wall {self.publish_wall_us:.1f}),"
            + ("" if self.server_cpu_us is None else f" the server {self.server_cpu_us:.1f},")
            + f" over {self.commands} commands of the bench mix in batches of 500"
            f" (`python -m bench.store_write`, best of {self.rounds} rounds)"
        )


def decided_writes(
    referrals: int = 2000, batch_size: int = 500, seed: int = 20261201, prefix: str = "write"
) -> tuple[int, list[BatchWrite]]:
    """The number of commands of the bench mix and the write of each decided batch (another
    ``seed`` and ``prefix``: other command and referral ids, for a store that keeps them)."""
    polled = _polled(command_stream(seed, referrals, prefix))
    settings = Settings()
    limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
    policy = policy_of(settings)
    stored: dict[ReferralKey, ReferralRecord] = {}
    seen: set[CommandKey] = set()
    writes = []
    for start in range(0, len(polled), batch_size):
        incoming = [read_record(record, limits) for record in polled[start : start + batch_size]]
        decided = decide_batch(incoming, stored, seen, NOW, settings, policy)
        stored.update({w.record.key: w.record for w in decided.write.referrals})
        seen.update(CommandKey(p.tenant_id, p.command_id) for p in decided.write.processed)
        writes.append(decided.write)
    return len(polled), writes


async def _acknowledge(entries: list[OutboxEntry]) -> Collection[int]:
    return [entry.seq for entry in entries]


async def land(store: Store, writes: Sequence[BatchWrite], commands: int, name: str) -> WriteCost:
    """Write and publish every batch into the open ``store``; the cost per command."""
    await store.publish_in_order(None, _acknowledge)  # the backlog, as recovery drains it
    write_cpu = publish_cpu = write_wall = publish_wall = 0.0
    for batch in writes:
        cpu, wall = time.process_time(), time.perf_counter()
        stored = await store.write(batch)
        written_cpu, written_wall = time.process_time(), time.perf_counter()
        await store.publish_in_order(stored, _acknowledge)
        publish_cpu += time.process_time() - written_cpu
        publish_wall += time.perf_counter() - written_wall
        write_cpu += written_cpu - cpu
        write_wall += written_wall - wall
    if await store.outbox_backlog() != 0:
        raise AssertionError("published outbox rows were left behind")
    per = 1e6 / commands
    return WriteCost(name, commands, write_cpu * per, publish_cpu * per,
                     write_wall * per, publish_wall * per)  # fmt: skip


async def _round_at(url: str, writes: Sequence[BatchWrite], commands: int, name: str) -> WriteCost:
    store = open_store(url)
    await store.open()
    try:
        if name != "postgresql":
            return await land(store, writes, commands, name)
        before = await _server_cpu(url)
        cost = await land(store, writes, commands, name)
        after = await _server_cpu(url)
    finally:
        await store.close()
    if not after:
        return cost
    used = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    return dataclasses.replace(cost, server_cpu_us=used * 1e6 / commands)


async def _server_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each server process serving the database's other sessions
    (and of the server's background writers), by pid; empty where the server does not run
    on this machine."""
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
            " AND (datname = current_database() OR backend_type <> 'client backend')"
        )
    finally:
        await db.close()
    return cpu_seconds([pid for (pid,) in rows])


def one_round(name: str, writes: Sequence[BatchWrite], commands: int) -> WriteCost:
    """One round on a fresh store of the kind ``name``."""
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="store-write-") as directory:
            url = f"sqlite:///{Path(directory) / 'referrals.db'}"
            return asyncio.run(_round_at(url, writes, commands, name))
    with fresh_database(admin_url()) as (_, url):
        return asyncio.run(_round_at(url, writes, commands, name))


def measure(name: str = "sqlite", rounds: int = 5, referrals: int = 2000) -> WriteCost:
    """The cheapest of ``rounds`` rounds (by CPU of the write and its publish)."""
    commands, writes = decided_writes(referrals)
    tune_garbage_collection()  # as the service runs
    best = min((one_round(name, writes, commands) for _ in range(rounds)), key=lambda c: c.cpu_us)
    return dataclasses.replace(best, rounds=rounds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_write", description=__doc__)
    parser.add_argument("--store", choices=STORES, default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--referrals", type=int, default=2000)
    args = parser.parse_args(argv)
    print(measure(args.store, args.rounds, args.referrals).describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
