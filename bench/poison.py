"""Benchmark: what poison records cost. The service drains the same backlog of commands,
clean and with one poison record per 100 commands, the runs alternating (``--rounds``), and
the report gives commands/s of each and the ratio of their medians (the target: the
poisoned run keeps at least 80%).

The poison families, in turn: a command the planted fault of ``bench.poisoned_service``
makes ``decide`` raise on (a bug: dead-lettered in its own batch); a patch whose array
index has 5,000 digits (refused before it is converted); a value that is not JSON
(dead-lettered when decoded). Each is keyed like the command before it, so it shares a
partition with work behind it.

Run: ``python -m bench.poison [--referrals N] [--output docs/benchmarks.md]``; it starts
its own broker and stops it, and the service, on the way out.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.measure import OUTCOME_ID, OutcomeReader, PhaseResult, run_phase
from bench.poisoned_service import POISON_PREFIX
from bench.processes import Child, http_get, wait_until
from bench.workload import SOURCE, Record, command_stream
from service.broker import EmbeddedBroker, free_port
from service.codec import command_envelope, command_record
from service.dead_letters import ERROR_CODE
from service.kafka import make_producer
from service.settings import Settings

SECTION = "## Poison records"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
FAMILIES = ("planted fault", "5,000-digit index", "not JSON")
TARGET = 0.8


def poison(family: str, key: bytes, number: int) -> Record:
    command_id = f"{POISON_PREFIX}{number}-{uuid.uuid4()}"
    if family == "not JSON":
        return Record(command_id, "garbage", key, b"\x00\x01 not a command", (), "dead")
    subject = key.decode()
    if family == "planted fault":
        envelope = command_envelope("referral.accept", command_id, SOURCE, subject)
    else:
        index = [{"op": "replace", "path": "/customerProfile/team/" + "7" * 5000, "value": {}}]
        envelope = command_envelope("referral.patch", f"index-{command_id}", SOURCE, subject, index)
    record = command_record(envelope, structured=number % 2 == 0)
    return Record(command_id, family, record.key or key, record.value, record.headers, "dead")


def poisoned(stream: Sequence[Record], every: int) -> list[Record]:
    """``stream`` with a poison record after each ``every`` commands, never last."""
    out: list[Record] = []
    for index, record in enumerate(stream):
        out.append(record)
        if index % every == every // 2:
            number = index // every
            out.append(poison(FAMILIES[number % len(FAMILIES)], record.key, number))
    return out


@dataclass
class Run:
    name: str
    commands: int
    poison: int
    phase: PhaseResult
    dead_letters: Counter[str]

    @property
    def per_second(self) -> float:
        return self.commands / self.phase.seconds


def settings_for(label: str, bootstrap: str, workdir: Path, fetch_wait_ms: int) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings.model_validate({
        "kafka_bootstrap_servers": bootstrap,
        "database_url": f"sqlite:///{workdir / f'{label}-{suffix}.db'}",
        "consumer_group": f"poison-{label}-{suffix}",
        "commands_topic": f"poison-{label}-commands-{suffix}",
        "events_topic": f"poison-{label}-events-{suffix}",
        "rejections_topic": f"poison-{label}-rejections-{suffix}",
        "dlq_topic": f"poison-{label}-dlq-{suffix}",
        "http_port": free_port(),
        "fetch_max_wait_ms": fetch_wait_ms,
        "log_level": "WARNING",
        # The fault is planted in this process: worker processes would decide without it.
        "workers": 1,
    })  # fmt: skip


async def dead_letters(settings: Settings, expected: int, within: float = 30.0) -> Counter[str]:
    """The error codes of the dead-letter topic, once it holds ``expected`` records."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    codes: Counter[str] = Counter()
    try:
        await consumer.topics()
        found = consumer.partitions_for_topic(settings.dlq_topic) or ()
        partitions = [TopicPartition(settings.dlq_topic, p) for p in found]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + within
        while sum(codes.values()) < expected and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                codes.update(dict(r.headers).get(ERROR_CODE, b"?").decode() for r in records)
        return codes
    finally:
        await consumer.stop()


def good(record: Record) -> bool:
    """Whether the record is a command with an outcome record (not poison, not a duplicate)."""
    return record.outcome in ("event", "rejection")


async def measure(name: str, stream: list[Record], warmup: list[Record], settings: Settings,
                  child: Child) -> Run:  # fmt: skip
    async def ready() -> bool:
        answer = await http_get(settings.http_port, "/readyz")
        return answer is not None and answer[0] == 200

    await wait_until(f"{name} ready", ready, child, 60)
    producer = make_producer(settings)
    topics = [settings.events_topic, settings.rejections_topic]
    reader = OutcomeReader(settings.kafka_bootstrap_servers, topics, 10, OUTCOME_ID)
    try:
        await producer.start()
        await reader.start()
        topic, alive = settings.commands_topic, child.check_alive
        await run_phase(producer, reader, topic, warmup, counts_output=good, rate=None,
                        within=60, check_alive=alive)  # fmt: skip
        phase = await run_phase(producer, reader, topic, stream, counts_output=good, rate=None,
                                within=60 + len(stream) / 10, check_alive=alive,
                                hold=(child.pause, child.resume))  # fmt: skip
    finally:
        await reader.stop()
        await producer.stop()
    poison = sum(record.outcome == "dead" for record in stream)
    commands = sum(good(record) for record in stream)
    return Run(name, commands, poison, phase, await dead_letters(settings, poison))


def order(rounds: int) -> list[str]:
    """The runs in turn, each round starting with the other, so neither gains by going first
    (a warmer machine, a fuller broker)."""
    names = ["clean", "poisoned"]
    return [name for r in range(rounds) for name in (names if r % 2 == 0 else names[::-1])]


async def run(referrals: int, every: int, seed: int, workdir: Path, rounds: int) -> list[Run]:
    clean = command_stream(seed, referrals, "poison-bench")
    streams = {"clean": clean, "poisoned": poisoned(clean, every)}
    runs = []
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        for name in order(rounds):
            stream = streams[name]
            warmup = command_stream(seed + 1, 10, f"warmup-{name}")
            settings = settings_for(name, broker.bootstrap_servers, workdir, 10)
            args = ["bench.poisoned_service", "run"]
            child = Child(name, args, settings.child_environment(), workdir / f"{name}.log")
            child.start()
            try:
                runs.append(await measure(name, stream, warmup, settings, child))
            finally:
                child.stop()
            print(f"  {name:<9} {runs[-1].per_second:9,.0f} commands/s", file=sys.stderr)
    return runs


def median_rate(runs: list[Run], name: str) -> float:
    return statistics.median(r.per_second for r in runs if r.name == name)


def markdown(runs: list[Run], every: int) -> str:
    ratio = median_rate(runs, "poisoned") / median_rate(runs, "clean")
    verdict = "met" if ratio >= TARGET else "**not met**"
    lines = [
        SECTION, "",
        f"The same backlog drained by the service (SQLite, 1 worker), clean and with one "
        f"poison record per {every} commands ({', '.join(FAMILIES)}, in turn), the two runs "
        f"alternating, each round starting with the other; commands/s counts the commands "
        f"that are not poison, from the service's resume to their last outcome. A "
        f"5,000-digit index is refused with invalidRequest (a rejection, not a dead letter).",
        "", "| run | commands | poison records | seconds | commands/s | dead letters |",
        "|---|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for r in runs:
        codes = ", ".join(f"{code} {n}" for code, n in sorted(r.dead_letters.items())) or "-"
        lines.append(f"| {r.name} | {r.commands} | {r.poison} | {r.phase.seconds:.2f} | "
                     f"{r.per_second:,.0f} | {codes} |")  # fmt: skip
    lines += ["", f"Poisoned over clean, median over median: **{ratio:.2f}x** "
              f"(target ≥ {TARGET}x: {verdict}).", ""]  # fmt: skip
    return "\n".join(lines)


def write_section(output: Path, section: str) -> None:
    """Replace this benchmark's section of the report (up to the next one), or append it."""
    report = output.read_text() if output.exists() else ""
    before, found, after = report.partition(SECTION)
    rest = after.split("\n## ", 1)[1] if found and "\n## " in after else ""
    tail = f"\n## {rest}" if rest else ""
    output.write_text(f"{before.rstrip()}\n\n{section}{tail}".lstrip())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.poison", description=__doc__)
    parser.add_argument("--referrals", type=int, default=2000, help="default 2000")
    parser.add_argument("--every", type=int, default=100, help="commands per poison record")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternating")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args(argv)
    if args.referrals <= 0 or args.every <= 1:
        parser.error("--referrals must be positive and --every above 1")
    with tempfile.TemporaryDirectory(prefix="poison-bench-") as workdir:
        runs = asyncio.run(run(args.referrals, args.every, args.seed, Path(workdir), args.rounds))
    section = markdown(runs, args.every)
    print(section)
    if not args.no_write:
        write_section(args.output, section)


if __name__ == "__main__":
    main()
