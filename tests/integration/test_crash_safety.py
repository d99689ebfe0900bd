"""Crash safety: kill -9 the service at random moments while commands stream in.

Every command must take effect exactly once, as a replay of the same commands through the
pure core says it should; no event may be missing; a re-published event keeps its id and
version. The stream, the kill moments and the replay are driven by one seeded generator.
"""

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.broker import EmbeddedBroker
from service.codec import dumps, loads
from service.settings import Settings
from state import Applied, Command, CommandType, ReferralRecord, decide
from tests.integration.conftest import isolated_settings
from tests.integration.kafka_helpers import (
    Producer,
    Received,
    collect,
    command,
    http_get,
    wait_ready,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REFERRALS = 80
COMMANDS = 2400
KILLS = 5
SEED = 20261124


def command_stream(rng: random.Random) -> list[dict[str, Any]]:
    """A realistic mix over many referrals: creates first, then edits, moves and repeats."""
    ids = [f"crash-{n:03d}" for n in range(REFERRALS)]
    stream = [
        command("referral.create", rid, {"name": f"Referral {rid}", "details": {"notes": "0"}})
        for rid in ids
    ]
    moves = ["referral.accept", "referral.decline", "referral.win", "referral.lose"]
    while len(stream) < COMMANDS:
        rid = rng.choice(ids)
        roll = rng.random()
        if roll < 0.45:
            note = [{"op": "replace", "path": "/details/notes", "value": str(rng.randint(0, 9))}]
            stream.append(command("referral.patch", rid, note))
        elif roll < 0.75:
            stream.append(command(rng.choice(moves), rid))
        elif roll < 0.85:
            substatus = rng.choice(["Received", "Pending"])
            stream.append(command("referral.patch", rid, [
                {"op": "replace", "path": "/substatus", "value": substatus}]))  # fmt: skip
        else:  # a producer retry: the very same command again
            earlier = [c for c in stream if c.get("subject") == rid]
            stream.append(rng.choice(earlier))
    return stream


def replay(stream: list[dict[str, Any]]) -> tuple[dict[str, list[tuple[str, str, int]]], set[str]]:
    """What the pure core says must come out: events per referral, and rejected command ids."""
    now = datetime(2026, 11, 24, tzinfo=UTC)
    records: dict[str, ReferralRecord] = {}
    events: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
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
            data=loads(dumps(envelope.get("data"))) if "data" in envelope else None,
        )
        decision = decide(records.get(cmd.referral_id or ""), cmd, now)
        if isinstance(decision, Applied):
            records[decision.record.referral_id] = decision.record
            for event in decision.events:
                events[event.referral_id].append((event.event_id, event.type.value, event.version))
        else:
            rejected.add(cmd.command_id)
    return events, rejected


class ServiceProcess:
    """``referrals run`` as a child process, configured like production: by environment."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.env = {**os.environ, **_environment(settings)}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "run"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, grace: float) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(grace)


def _environment(settings: Settings) -> dict[str, str]:
    values = settings.model_dump(mode="json")
    values["database_url"] = settings.database_url.get_secret_value()
    return {f"REFERRALS_{k.upper()}": str(v) for k, v in values.items() if v is not None}


@pytest.fixture
def crash_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated_settings(
        broker.bootstrap_servers, tmp_path / "crash.db", max_batch_size=40, log_level="WARNING"
    )


async def test_kill_9_at_random_moments_loses_nothing_and_applies_nothing_twice(
    crash_settings: Settings, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    stream = command_stream(rng)
    expected_events, expected_rejections = replay(stream)
    service = ServiceProcess(crash_settings, tmp_path / "service.log")
    service.start()
    await wait_ready(crash_settings.http_port)

    async def produce() -> None:
        async with Producer(crash_settings) as producer:
            for start in range(0, len(stream), 60):
                for envelope in stream[start : start + 60]:
                    await producer.structured(envelope)
                await asyncio.sleep(0.15)  # pacing, so the kills land mid-stream

    producing = asyncio.create_task(produce())
    for _ in range(KILLS):
        # Crash after a random amount of work, so every kill lands mid-stream.
        await _processed_at_least(crash_settings.http_port, rng.randint(20, 300))
        service.kill()
        service.start()
    await producing

    unique_events = sum(len(v) for v in expected_events.values())
    records = await collect(
        crash_settings,
        [crash_settings.events_topic, crash_settings.rejections_topic],
        lambda got: _distinct_ids(got) >= unique_events + len(expected_rejections),
        within=240,
    )
    assert service.terminate(grace=40) == 0

    events = [r for r in records if r.topic == crash_settings.events_topic]
    rejections = [r for r in records if r.topic == crash_settings.rejections_topic]
    _assert_duplicates_are_identical(events)
    print(f"{len(events)} event records, {_distinct_ids(events)} distinct")
    actual: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for event in _first_of_each(events):
        data = event.json
        actual[data["referralId"]].append((event.header("ce_id"), event.header("ce_type"),
                                          data["version"]))  # fmt: skip
    assert dict(actual) == dict(expected_events)
    assert {r.json["commandId"] for r in rejections} == expected_rejections
    _assert_store_matches(crash_settings, expected_events)


async def _processed_at_least(port: int, commands: int, within: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        status, body = None, b""
        with contextlib.suppress(OSError):  # still starting after the previous kill
            status, body = await http_get(port, "/metrics")
        if status == 200 and _commands_total(body) >= commands:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the service did not process {commands} commands within {within}s")


def _commands_total(metrics: bytes) -> float:
    return sum(
        float(line.rsplit(b" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(b"referrals_commands_total{")
    )


def _distinct_ids(records: list[Received]) -> int:
    return len({r.headers["ce_id"] for r in records})


def _first_of_each(events: list[Received]) -> list[Received]:
    seen: set[bytes] = set()
    first = []
    for event in events:
        if event.headers["ce_id"] not in seen:
            seen.add(event.headers["ce_id"])
            first.append(event)
    return first


def _assert_duplicates_are_identical(events: list[Received]) -> None:
    by_id: dict[bytes, set[bytes | None]] = defaultdict(set)
    for event in events:
        by_id[event.headers["ce_id"]].add(event.value)
    assert all(len(values) == 1 for values in by_id.values())


def _assert_store_matches(settings: Settings, expected: dict[str, list[Any]]) -> None:
    path = settings.database_url.get_secret_value().removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        versions = dict(db.execute("SELECT id, version FROM referrals").fetchall())
        backlog = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    assert versions == {rid: events[-1][2] for rid, events in expected.items()}
    assert backlog == 0
