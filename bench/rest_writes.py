"""Writes through the REST API against the same commands sent on Kafka: writes per second
and p50/p99 of the wait for each outcome.

Starts a broker and the service (``referrals run``: the consumer and the API, SQLite) as a
child process, then creates ``--count`` referrals (the Partner Center documentation's create
example, each with an id of its own) three ways, each after a warm-up:

- ``http``: ``POST /v1.0/engagements/referrals``, ``--in-flight`` requests at a time, each
  answered 201 once its event is read back (what a REST client sees);
- ``kafka, awaited``: the same commands produced to the commands topic by this process and
  awaited one by one through the API's own waiter (``service.api.writes.flow``), the same
  number in flight: the REST path without HTTP, authentication and JSON parsing;
- ``kafka, batch``: the same commands all sent at once and awaited together, as
  ``referrals send`` does (no latency per command: only the rate).

    python -m bench.rest_writes [--count N] [--in-flight N] [--warmup N]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from service.api.writes import commands as write_commands
from service.api.writes.flow import Settled, Writes
from service.broker import EmbeddedBroker, free_port
from service.client.outcomes import AnswerKind, outgoing, send_and_wait
from service.jsonio import loads
from service.settings import Settings
from service.store import open_store

TENANT = "org-bench"
KEY = "bench-writer"
CREATE = Path(__file__).parents[1] / "tests" / "corpus" / "partner_center"
REFERRALS = "/v1.0/engagements/referrals"


def _document(run: str, n: int) -> dict[str, Any]:
    document = loads((CREATE / "create-shared-referral-request.json").read_bytes())
    return {**document, "id": f"{run}-{n:06d}"}


async def _in_flight(count: int, width: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run ``one(n)`` for n < count, ``width`` at a time; the seconds it took."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return time.perf_counter() - started


async def over_http(api: str, run: str, count: int, width: int) -> tuple[float, list[float]]:
    spent: list[float] = []
    headers = {"Authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=width)
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60, limits=limits) as http:

        async def one(n: int) -> None:
            started = time.perf_counter()
            answer = await http.post(REFERRALS, json=_document(run, n))
            spent.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 201, answer.text

        took = await _in_flight(count, width, one)
    return count / took, spent


async def over_kafka(writes: Writes, run: str, count: int, width: int) -> tuple[float, list[float]]:
    spent: list[float] = []
    settings = writes.settings

    async def one(n: int) -> None:
        command = write_commands.create(settings, str(uuid.uuid4()), TENANT, _document(run, n))
        started = time.perf_counter()
        settled = await writes.submit(command, 60)
        spent.append((time.perf_counter() - started) * 1000)
        assert isinstance(settled, Settled), settled
        assert settled.outcome is not None
        assert settled.outcome.referral is not None

    took = await _in_flight(count, width, one)
    return count / took, spent


async def over_kafka_batch(settings: Settings, run: str, count: int) -> float:
    made = [write_commands.create(settings, str(uuid.uuid4()), TENANT, _document(run, n))
            for n in range(count)]  # fmt: skip
    commands = [outgoing(command.envelope) for command in made]
    started = time.perf_counter()
    answers = await send_and_wait(settings, commands, 120)
    took = time.perf_counter() - started
    assert {answer.kind for answer in answers} == {AnswerKind.APPLIED}
    return count / took


def _p(values: list[float], percentile: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percentile - 1]


def _settings(bootstrap: str, folder: Path) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap_servers=bootstrap,
        database_url=SecretStr(f"sqlite:///{folder / 'bench.db'}"),
        consumer_group=f"bench-{suffix}",
        commands_topic=f"commands-{suffix}",
        events_topic=f"events-{suffix}",
        rejections_topic=f"rejections-{suffix}",
        dlq_topic=f"dlq-{suffix}",
        http_port=free_port(),
        api_port=free_port(),
        api_keys=SecretStr(json.dumps({KEY: {"tenant": TENANT, "write": True}})),
        log_level="WARNING",
    )


async def _ready(settings: Settings, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(f"http://127.0.0.1:{settings.http_port}/readyz")).is_success:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the service did not get ready")


async def measure(settings: Settings, count: int, width: int, warmup: int) -> list[str]:
    await _ready(settings)
    api = f"http://127.0.0.1:{settings.api_port}"
    store = open_store(settings.database_url.get_secret_value())
    await store.open(migrate=False)
    writes = Writes(settings, store)
    rows = []
    try:
        await over_http(api, "warm-http", warmup, width)
        await over_kafka(writes, "warm-kafka", warmup, width)
        rate, spent = await over_http(api, "http", count, width)
        rows.append(_row("http POST", width, count, rate, spent))
        rate, spent = await over_kafka(writes, "kafka", count, width)
        rows.append(_row("kafka, awaited", width, count, rate, spent))
        rate = await over_kafka_batch(settings, "batch", count)
        rows.append(f"| kafka, batch (`referrals send`) | all | {count} | {rate:.0f} | | |")
    finally:
        await writes.stop()
        await store.close()
    return rows


def _row(path: str, width: int, count: int, rate: float, spent: list[float]) -> str:
    p50, p99 = _p(spent, 50), _p(spent, 99)
    return f"| {path} | {width} | {count} | {rate:.0f} | {p50:.1f} | {p99:.1f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rest_writes", description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="referrals-rest-writes-") as scratch:
        folder = Path(scratch)
        with EmbeddedBroker(log_path=folder / "tansu.log") as broker:
            settings = _settings(broker.bootstrap_servers, folder)
            env = {**os.environ, **settings.environment()}
            command = [sys.executable, "-m", "service.cli", "run"]
            with subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL) as child:
                try:
                    rows = asyncio.run(measure(settings, args.count, args.in_flight, args.warmup))
                finally:
                    child.terminate()
                    child.wait(timeout=60)
    print("| path | in flight | writes | writes/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
