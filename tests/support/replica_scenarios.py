"""Building blocks of the chaos scenarios: a seeded command stream, its replay through the
pure core, the service as a child process, and checks on what came out."""

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.broker import free_port
from service.jsonio import dumps, loads
from service.settings import Settings
from state import Applied, Command, CommandType, ReferralRecord, decide
from tests.support.http_probes import http_get, wait_ready
from tests.support.kafka_io import Received, command
from tests.support.postgres import fresh_postgres_database
from tests.support.process_tree import until, worker_pids
from tests.support.services import isolated_settings

#: What came out for one referral: (event id, type, version), in version order.
Timeline = list[tuple[str, str, int]]


def command_stream(rng: random.Random, ids: list[str], total: int) -> list[dict[str, Any]]:
    """A realistic mix over many referrals: creates first, then edits, moves and repeats."""
    stream = [
        command("referral.create", rid, {"name": f"Referral {rid}", "details": {"notes": "0"}})
        for rid in ids
    ]
    moves = ["referral.accept", "referral.decline", "referral.win", "referral.lose"]
    while len(stream) < total:
        rid = rng.choice(ids)
        roll = rng.random()
        if roll < 0.45:
            note = [{"op": "replace", "path": "/details/notes", "value": str(rng.randint(0, 9))}]
            stream.append(command("referral.patch", rid, note))
        elif roll < 0.75:
            stream.append(command(rng.choice(moves), rid))
        elif roll < 0.85:
            substatus = rng.choice(["Received", "Pending"])
            edit = [{"op": "replace", "path": "/substatus", "value": substatus}]
            stream.append(command("referral.patch", rid, edit))
        else:  # a producer retry: the very same command again
            earlier = [c for c in stream if c.get("subject") == rid]
            stream.append(rng.choice(earlier))
    return stream


def replay(stream: list[dict[str, Any]]) -> tuple[dict[str, Timeline], set[str]]:
    """What the pure core says must come out: events per referral, and rejected command ids."""
    now = datetime(2026, 11, 24, tzinfo=UTC)
    records: dict[str, ReferralRecord] = {}
    events: dict[str, Timeline] = defaultdict(list)
    rejected: set[str] = set()
    seen: set[str] = set()
    for envelope in stream:
        if envelope["id"] in seen:
            continue
        seen.add(envelope["id"])
        cmd = Command(
            type=CommandType(envelope["type"]),
            command_id=envelope["id"],
            referral_id=envelope["subject"],
            data=loads(dumps(envelope["data"])) if "data" in envelope else None,
        )
        decision = decide(records.get(envelope["subject"]), cmd, now)
        if isinstance(decision, Applied):
            records[decision.record.referral_id] = decision.record
            for event in decision.events:
                events[event.referral_id].append((event.event_id, event.type.value, event.version))
        else:
            rejected.add(cmd.command_id)
    return dict(events), rejected


class ServiceProcess:
    """``referrals run`` as a child process, configured like production: by environment.

    It runs in a session of its own, so the parent and its worker processes form one
    process group: ``pause`` freezes them all, as a frozen pod freezes all its processes,
    while ``kill`` is kill -9 of the parent alone (its workers must end by themselves)."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.env = {**os.environ, **settings.environment()}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "run"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """kill -9 of the parent only."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def pause(self) -> None:
        """Freeze the whole tree (SIGSTOP), as a long GC pause or a stalled host would."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def terminate(self, grace: float) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(grace)

    def ensure_stopped(self) -> None:
        """Whatever the test left running of this service's tree ends (kill -9)."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def workers(self) -> dict[int, int]:
        """The worker processes' ids by worker index (only those running now)."""
        return worker_pids(self.pid)

    async def worker(self, index: int, other_than: int | None = None, within: float = 60) -> int:
        """Worker ``index``'s process id once it runs (and is not ``other_than``)."""
        await until(
            lambda: self.workers().get(index, other_than) != other_than,
            f"worker {index} running (other than {other_than})",
            within,
        )
        return self.workers()[index]

    async def kill_worker(self, index: int) -> int:
        """kill -9 of worker ``index``; returns the id of the process killed."""
        pid = await self.worker(index)
        os.kill(pid, signal.SIGKILL)
        return pid

    async def pause_worker(self, index: int) -> int:
        """Freeze worker ``index`` alone (SIGSTOP); returns its process id."""
        pid = await self.worker(index)
        os.kill(pid, signal.SIGSTOP)
        return pid

    def resume_worker(self, index: int) -> None:
        os.kill(self.workers()[index], signal.SIGCONT)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # the group has ended
            os.killpg(self.pid, signum)


@contextlib.asynccontextmanager
async def replicas_settings(
    bootstrap: str, tmp_path: Path, **overrides: object
) -> AsyncIterator[Settings]:
    """Settings several replicas share: one fresh PostgreSQL database, topics of their own."""
    async with fresh_postgres_database() as url:
        yield isolated_settings(
            bootstrap, tmp_path / "unused.db", database_url=url, log_level="WARNING", **overrides
        )


async def start_replicas(settings: Settings, tmp_path: Path, count: int) -> list[ServiceProcess]:
    """``count`` service processes on ``settings`` (each its own HTTP port), once ready."""
    replicas = [
        ServiceProcess(settings.model_copy(update={"http_port": free_port()}),
                       tmp_path / f"replica-{n}.log")
        for n in range(count)
    ]  # fmt: skip
    for replica in replicas:
        replica.start()
    try:
        await asyncio.gather(*(wait_ready(r.settings.http_port, within=90) for r in replicas))
    except BaseException:
        for replica in replicas:
            replica.ensure_stopped()
        raise
    return replicas


async def processed_at_least(port: int, commands: int, within: float = 120) -> None:
    """Wait until the replica on ``port`` has consumed ``commands`` commands since it started."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        status, body = None, b""
        with contextlib.suppress(OSError):  # still starting after the previous kill
            status, body = await http_get(port, "/metrics")
        if status == 200 and commands_total(body) >= commands:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the service did not process {commands} commands within {within}s")


def commands_total(metrics: bytes) -> float:
    return sum(
        float(line.rsplit(b" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(b"referrals_commands_total{")
    )


def unique(records: list[Received]) -> list[Received]:
    """The records once each, by event id, in the order given."""
    seen: set[bytes] = set()
    kept = []
    for record in records:
        if record.headers["ce_id"] not in seen:
            seen.add(record.headers["ce_id"])
            kept.append(record)
    return kept


def distinct_ids(records: list[Received]) -> int:
    return len({r.headers["ce_id"] for r in records})


def timelines(events: list[Received]) -> dict[str, Timeline]:
    """Each referral's events once each (duplicates dropped by event id), in arrival order."""
    seen: set[bytes] = set()
    by_referral: dict[str, Timeline] = defaultdict(list)
    for event in events:
        if event.headers["ce_id"] in seen:
            continue
        seen.add(event.headers["ce_id"])
        data = event.json
        by_referral[data["referralId"]].append(
            (event.header("ce_id"), event.header("ce_type"), data["version"])
        )
    return dict(by_referral)


def assert_duplicates_are_identical(events: list[Received]) -> None:
    by_id: dict[bytes, set[bytes | None]] = defaultdict(set)
    for event in events:
        by_id[event.headers["ce_id"]].add(event.value)
    assert all(len(values) == 1 for values in by_id.values())


def first_seen_versions(records: list[Received]) -> dict[str, list[int]]:
    """Each referral's versions in topic order, duplicates dropped by event id."""
    by_referral: dict[str, list[int]] = defaultdict(list)
    for record in unique(sorted(records, key=lambda r: (r.partition, r.offset))):
        by_referral[record.json["referralId"]].append(record.json["version"])
    return dict(by_referral)
