"""What a batch costs the store with many referrals stored, against an empty store.

The bench mix (``bench.store_write.decided_writes``) is landed as the consume loop lands it,
a batch at a time: its inputs loaded (``load_batch``, nothing cached), its write, and its
publish (every entry acknowledged), into two stores in turn: a store kept between runs that
``bench/preload.py`` filled (``--at``; each round writes referrals and commands of ids of its
own, so the kept store grows by one round's referrals), and a fresh empty store of the same
kind. After each round the store-wide scans the service runs beside the loop are timed once:
the referrals per state (``count_by_state``), the expiry scan (``due_for_expiry``), the
outbox backlog gauge and the retention clean-up (``forget_processed``).

CPU is ``time.process_time`` (every thread of this process); on PostgreSQL the server's CPU
for the database's sessions is read from /proc where the server runs here.

Run: ``.venv/bin/python -m bench.stored_store --at URL [--preload 1000000] [--rounds 3]``
(``--preload`` fills the kept store first, once).
"""

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.cpu import cpu_seconds, used_seconds
from bench.postgres import admin_url, fresh_database
from bench.preload import run_preload
from bench.store_write import _server_cpu, decided_writes
from service.runtime import tune_garbage_collection
from service.store import BatchWrite, OutboxEntry, Store, open_store, store_backend
from state import CommandKey

STAGES = ("load", "write", "publish")
SCANS = ("count_by_state", "due_for_expiry", "outbox_backlog", "forget_processed")


@dataclass
class Round:
    """µs per command of each stage (CPU of this process, wall), ms of each scan."""

    cpu: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    server: float | None = None
    scans: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        stages = ", ".join(
            f"{stage} {self.cpu[stage]:.1f}/{self.wall[stage]:.1f}" for stage in STAGES
        )
        server = "" if self.server is None else f", server {self.server:.1f}"
        scans = ", ".join(f"{name} {ms:.1f}" for name, ms in self.scans.items())
        total = sum(self.wall.values())
        return f"µs/cmd cpu/wall: {stages}; wall total {total:.1f}{server}; ms: {scans}"


async def _acknowledge(entries: list[OutboxEntry]) -> Collection[int]:
    return [entry.seq for entry in entries]


async def land(store: Store, writes: Sequence[BatchWrite], commands: int) -> Round:
    """Load, write and publish every batch into the open ``store``."""
    await store.publish_in_order(None, _acknowledge)
    cpu = dict.fromkeys(STAGES, 0.0)
    wall = dict.fromkeys(STAGES, 0.0)
    for batch in writes:
        referrals = [w.record.key for w in batch.referrals]
        seen = [CommandKey(p.tenant_id, p.command_id) for p in batch.processed]
        marks = [(time.process_time(), time.perf_counter())]
        await store.load_batch(referrals, seen, {})
        marks.append((time.process_time(), time.perf_counter()))
        stored = await store.write(batch)
        marks.append((time.process_time(), time.perf_counter()))
        await store.publish_in_order(stored, _acknowledge)
        marks.append((time.process_time(), time.perf_counter()))
        for stage, before, after in zip(STAGES, marks[:-1], marks[1:], strict=True):
            cpu[stage] += after[0] - before[0]
            wall[stage] += after[1] - before[1]
    per = 1e6 / commands
    return Round({s: v * per for s, v in cpu.items()}, {s: v * per for s, v in wall.items()})


async def scans(store: Store) -> dict[str, float]:
    """ms of each store-wide scan the service runs beside the loop, once each."""
    now = datetime.now(UTC)
    calls = {
        "count_by_state": store.count_by_state,
        "due_for_expiry": lambda: store.due_for_expiry(now, 1000),
        "outbox_backlog": store.outbox_backlog,
        "forget_processed": lambda: store.forget_processed(now - timedelta(days=7)),
    }
    took = {}
    for name, call in calls.items():
        began = time.perf_counter()
        await call()
        took[name] = (time.perf_counter() - began) * 1e3
    return took


async def one_round(url: str, writes: Sequence[BatchWrite], commands: int) -> Round:
    store = open_store(url)
    await store.open()
    try:
        postgres = store_backend(url) != "sqlite"
        before = await _server_cpu(url) if postgres else {}
        landed = await land(store, writes, commands)
        if postgres:
            used = used_seconds(before, cpu_seconds(list(before)))
            landed.server = used * 1e6 / commands
        landed.scans = await scans(store)
    finally:
        await store.close()
    return landed


def empty_store_url(kept: str) -> contextlib.AbstractContextManager[str]:
    """A fresh empty store of the kind of ``kept``, removed afterwards."""

    @contextlib.contextmanager
    def sqlite() -> Iterator[str]:
        with tempfile.TemporaryDirectory(prefix="stored-store-") as directory:
            yield f"sqlite:///{Path(directory) / 'referrals.db'}"

    @contextlib.contextmanager
    def postgresql() -> Iterator[str]:
        with fresh_database(admin_url()) as (_, url):
            yield url

    return sqlite() if store_backend(kept) == "sqlite" else postgresql()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stored_store", description=__doc__)
    parser.add_argument("--at", required=True, help="the kept store's URL")
    parser.add_argument("--preload", type=int, default=0, help="referrals to store first")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--referrals", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.preload:
        print(f"preloaded {args.preload:,} in {run_preload(args.at, args.preload):.0f} s")
    tune_garbage_collection()
    token = f"{int(time.time()) % 10**6}-{os.getpid()}"
    for n in range(args.rounds):
        seed = hash((token, n)) % 2**32
        for kind in ("stored", "empty"):
            commands, writes = decided_writes(args.referrals, seed=seed, prefix=f"s{token}-{n}")
            with (
                empty_store_url(args.at)
                if kind == "empty"
                else contextlib.nullcontext(args.at) as url
            ):
                landed = asyncio.run(one_round(url, writes, commands))
            print(f"round {n} {kind:6}: {landed.describe()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
