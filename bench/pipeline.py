"""Benchmark: the referral service against a raw Kafka passthrough, on one embedded broker.

``python -m bench.pipeline`` (``make bench``) checks that the PostgreSQL server answers
(unless ``--no-postgres``), starts a Tansu broker, then runs rounds (``--rounds``) of

- the service (``python -m service.cli run``) on SQLite in a temporary directory and on a
  fresh PostgreSQL database created for the run and dropped after it (``bench.postgres``),
  each with 1, 2 and the default number of worker processes (``--workers``, ``bench.rounds``),
  fed a realistic command mix: a throughput phase (a backlog, produced at once) and a
  latency phase (a fixed, modest rate); each command is timed from its send to the read
  of its outcome record (event or rejection, matched by ``causationid``);
- the passthrough (``python -m bench.passthrough``: consume, re-produce unchanged, commit
  per batch, the service's consumer and producer settings) before and after each service
  run, fed the same records, measured the same way;

then prints the medians of the rounds and rewrites docs/benchmarks.md. Every child process
(with the processes it started) and the broker are stopped, and each database dropped, on
the way out, whatever happens.
"""

import argparse
import asyncio
import contextlib
import inspect
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from bench.decision import measure as measure_decision
from bench.decision import profile as profile_decision
from bench.measure import COMMAND_ID, OUTCOME_ID, Identify, OutcomeReader, run_phase
from bench.postgres import (
    ADMIN_URL_VARIABLE,
    DEFAULT_ADMIN_URL,
    PostgresUnavailable,
    Server,
    admin_url,
    fresh_database,
    probe,
)
from bench.preload import run_preload
from bench.processes import Child, environment, http_get, wait_until
from bench.report import machine, text_table
from bench.report_doc import Report, markdown
from bench.report_model import LATENCY, THROUGHPUT, WARMUP, RunResult
from bench.rounds import (
    DEFAULT_SET,
    ServiceRun,
    default_workers,
    parse_workers,
    round_order,
    service_runs,
)
from bench.series import SUMMARY_COLUMNS, read_figures, summary_rows
from bench.targets import stored_rows, target_rows
from bench.workload import DUPLICATE_SHARE, REJECTED_SHARE, Record, command_stream, summary
from service.broker import EmbeddedBroker, free_port
from service.kafka import make_producer
from service.settings import EventMode, Settings
from service.workers.count import usable_cpus

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
READY_TIMEOUT = 60.0
NO_POSTGRES = "the service on PostgreSQL (`--no-postgres`)"
STORES = ["SQLite", "PostgreSQL"]
REBALANCES = "referrals_rebalances_total"


@dataclass(frozen=True)
class Options:
    referrals: int
    latency_referrals: int
    warmup_referrals: int
    rate: float
    fetch_wait_ms: int
    max_batch_size: int
    in_flight: int
    event_mode: EventMode
    seed: int
    output: Path | None
    workdir: Path | None
    #: Admin connection of the PostgreSQL server; None with ``--no-postgres``.
    postgres_url: str | None
    #: Referrals stored before each service run.
    stored: int = 0
    #: Worker counts of the service runs: positive counts and "default" (bench.rounds).
    workers: tuple[str, ...] = DEFAULT_SET
    #: Rounds: the passthrough and every service run once each, the order alternating.
    rounds: int = 3
    #: A report of a run without ``stored`` referrals whose throughput the run is held to.
    compare_with: Path | None = None


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline",
        description="Measure the referral service against a raw Kafka passthrough.",
    )
    add = parser.add_argument
    add(
        "--referrals",
        type=int,
        default=2000,
        help="referrals in the throughput phase (~5.4 commands each; default 2000)",
    )
    add(
        "--latency-referrals",
        type=int,
        default=400,
        help="referrals in the latency phase (default 400)",
    )
    add(
        "--warmup-referrals",
        type=int,
        default=20,
        help="referrals sent, and waited for, before measuring (default 20)",
    )
    add(
        "--rate",
        type=float,
        default=200.0,
        help="commands/s produced in the latency phase (default 200)",
    )
    add(
        "--fetch-wait-ms",
        type=int,
        default=10,
        help="fetch_max_wait_ms of every consumer (default 10)",
    )
    add(
        "--max-batch-size",
        type=int,
        default=Settings.model_fields["max_batch_size"].default,
        help="records per getmany (the service's max_batch_size; default %(default)s)",
    )
    add(
        "--in-flight",
        type=int,
        default=100,
        help="referrals whose commands are interleaved at any time (default 100)",
    )
    add(
        "--event-mode",
        choices=[mode.value for mode in EventMode],
        default="binary",
        help="the service's event mode (default binary)",
    )
    add("--seed", type=int, default=20261124, help="seed of the command mix")
    add(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="markdown report to (over)write (default docs/benchmarks.md)",
    )
    add("--no-write", action="store_true", help="print the table only")
    add(
        "--postgres-url",
        default=admin_url(),
        help=(
            "admin connection of the PostgreSQL server, where the PostgreSQL run creates and "
            f"drops its database (default: ${ADMIN_URL_VARIABLE}, else {DEFAULT_ADMIN_URL})"
        ),
    )
    add(
        "--no-postgres",
        action="store_true",
        help="skip the service run on PostgreSQL (the report says it was skipped)",
    )
    add(
        "--stored",
        type=int,
        default=0,
        help="referrals stored in each service's store before it starts, e.g. 1000000 (default 0)",
    )
    add(
        "--workers",
        default=",".join(DEFAULT_SET),
        help=(
            "worker counts of the service runs, each a positive count or 'default' (the "
            "count referrals run picks with workers=0), run once each (default %(default)s)"
        ),
    )
    add(
        "--rounds",
        type=int,
        help="rounds of every run, the order alternating (default 3; 1 with --stored)",
    )
    add(
        "--compare-with",
        type=Path,
        help=(
            "with --stored: the report of a run without, whose throughput ratios the run is "
            "held to (default docs/benchmarks.md)"
        ),
    )
    add(
        "--workdir",
        type=Path,
        help="keep the logs and the SQLite file here (default: a temporary directory)",
    )
    args = parser.parse_args(argv)  # fmt: skip
    for name in ("referrals", "latency_referrals", "rate", "max_batch_size", "in_flight"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.warmup_referrals < 0 or args.fetch_wait_ms < 0 or args.stored < 0:
        parser.error("--warmup-referrals, --fetch-wait-ms and --stored must not be negative")
    try:
        workers = parse_workers(args.workers)
    except ValueError as error:
        parser.error(f"--workers: {error}")
    rounds = args.rounds if args.rounds is not None else (1 if args.stored else 3)
    if rounds <= 0:
        parser.error("--rounds must be positive")
    compare_with = args.compare_with
    if compare_with is None and args.stored and args.output != DEFAULT_OUTPUT:
        compare_with = DEFAULT_OUTPUT
    return Options(
        referrals=args.referrals,
        latency_referrals=args.latency_referrals,
        warmup_referrals=args.warmup_referrals,
        rate=args.rate,
        fetch_wait_ms=args.fetch_wait_ms,
        max_batch_size=args.max_batch_size,
        in_flight=args.in_flight,
        event_mode=EventMode(args.event_mode),
        seed=args.seed,
        output=None if args.no_write else args.output,
        workdir=args.workdir,
        postgres_url=None if args.no_postgres else args.postgres_url,
        stored=args.stored,
        workers=workers,
        rounds=rounds,
        compare_with=compare_with if args.stored else None,
    )


def settings_for(
    label: str,
    bootstrap: str,
    workdir: Path,
    options: Options,
    database_url: str | None = None,
    workers: int = 1,
) -> Settings:
    """The run's own topics, group, store and port; the shared consumer settings. The store
    is a new SQLite file in ``workdir`` unless ``database_url`` is given; ``workers`` is the
    service's setting (0: the default)."""
    suffix = uuid.uuid4().hex[:8]
    return Settings.model_validate({
        "kafka_bootstrap_servers": bootstrap,
        "kafka_client_id": f"referrals-bench-{label}",
        "database_url": database_url or f"sqlite:///{workdir / f'{label}-{suffix}.db'}",
        "consumer_group": f"bench-{label}-{suffix}",
        "commands_topic": f"bench-{label}-commands-{suffix}",
        "events_topic": f"bench-{label}-events-{suffix}",
        "rejections_topic": f"bench-{label}-rejections-{suffix}",
        "dlq_topic": f"bench-{label}-dlq-{suffix}",
        "http_port": free_port(),
        "fetch_max_wait_ms": options.fetch_wait_ms,
        "max_batch_size": options.max_batch_size,
        "event_mode": options.event_mode,
        "log_level": "WARNING",
        "workers": workers,
    })  # fmt: skip


def phase_timeout(phase: str, stream: Sequence[Record], options: Options) -> float:
    if phase == LATENCY:
        return len(stream) / options.rate + 60.0
    return 60.0 + len(stream) / 50.0  # fails only below 50 commands/s


async def _measure(
    result: RunResult,
    settings: Settings,
    child: Child,
    streams: dict[str, list[Record]],
    options: Options,
    *,
    ready: Callable[[], Awaitable[bool]],
    output_topics: list[str],
    identify: Identify,
    counts_output: Callable[[Record], bool],
    metrics_port: int | None,
) -> None:
    await wait_until(f"{child.name} ready", ready, child, READY_TIMEOUT)
    producer = make_producer(settings)  # the service's own producer options
    reader = OutcomeReader(
        settings.kafka_bootstrap_servers, output_topics, options.fetch_wait_ms, identify
    )
    try:
        await asyncio.wait_for(producer.start(), 30)
        await reader.start()
        settled = await _scrape(metrics_port)
        for phase, stream in streams.items():
            before = settled
            measured = await run_phase(
                producer,
                reader,
                settings.commands_topic,
                stream,
                counts_output=counts_output,
                rate=options.rate if phase == LATENCY else None,
                within=phase_timeout(phase, stream, options),
                check_alive=child.check_alive,
                hold=(child.pause, child.resume) if phase == THROUGHPUT else None,
            )
            child.check_alive()
            print(
                f"  {result.name:<44} r{result.round + 1} {phase:<10} "
                f"{measured.records:>6} records "
                f"in {measured.seconds:6.2f} s  {measured.per_second:9,.0f}/s  "
                f"p50 {measured.percentile_ms(50):7.1f} ms  "
                f"p99 {measured.percentile_ms(99):7.1f} ms",
                file=sys.stderr,
                flush=True,
            )
            if metrics_port is not None:
                settled = await _scrape_settled(metrics_port, before, len(stream))
            if phase == WARMUP:
                continue
            result.phases[phase] = measured
            if metrics_port is not None:
                result.stats[phase] = _batch_stats(before, settled, measured.seconds)
                memory = child.sample_memory()
                if memory is not None and memory.tree_kib:
                    result.stats[phase]["peak RSS MiB, all processes"] = memory.tree_mib
            known = len(result.notes)
            _check(result, phase, measured.by_topic, result.stats.get(phase), stream, settings)
            for note in result.notes[known:]:
                print(f"  CHECK FAILED: {note}", file=sys.stderr)
    finally:
        await reader.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 15)


async def _scrape(port: int | None) -> dict[str, float]:
    """Sample values of the service's /metrics that the report uses, summed over labels."""
    if port is None:
        return {}
    answer = await http_get(port, "/metrics")
    if answer is None or answer[0] != 200:
        return {}
    wanted = {
        "referrals_batch_processing_seconds_count",
        "referrals_batch_processing_seconds_sum",
        "referrals_batch_stage_seconds_sum",
        "referrals_commands_total",
        "referrals_decisions_total",
        REBALANCES,
    }
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(answer[1].decode()):
        for sample in family.samples:
            if sample.name not in wanted:
                continue
            name = sample.name
            if name == "referrals_commands_total":
                name = f"{name}:{sample.labels.get('outcome', '')}"
            elif name == "referrals_decisions_total":
                name = f"{name}:{sample.labels.get('path', '')}"
            elif name == REBALANCES:
                name = f"{name}:{sample.labels.get('kind', '')}"
            elif name == "referrals_batch_stage_seconds_sum":
                name = f"{name}:{sample.labels.get('stage', '')}"
            values[name] = values.get(name, 0.0) + sample.value
    return values


async def _all_assigned(port: int, workers: int) -> bool:
    """Has each of the service's ``workers`` consumers an assignment, none in a rebalance?
    Ready says one worker has partitions; the benchmark waits for all, so that no rebalance
    falls in a measured phase. aiokafka revokes (the empty set on the first join) before it
    assigns, so from the counts summed over the workers: at least one assignment each, and
    no revocation without the assignment that follows it."""
    values = await _scrape(port)
    assigned = values.get(f"{REBALANCES}:assigned", 0.0)
    return assigned >= workers and values.get(f"{REBALANCES}:revoked", 0.0) <= assigned


async def _scrape_settled(
    port: int, before: dict[str, float], commands: int, within: float = 10.0
) -> dict[str, float]:
    """/metrics once it counts all ``commands`` of the phase: the service reports a batch
    after its outcomes are published, so the last batch may still be in hand."""
    deadline = time.monotonic() + within
    while True:
        after = await _scrape(port)
        counted = sum(
            value - before.get(name, 0.0)
            for name, value in after.items()
            if name.startswith("referrals_commands_total:")
        )
        if counted >= commands or time.monotonic() > deadline:
            return after
        await asyncio.sleep(0.05)  # polling the service's counters, not a synchronisation


def _batch_stats(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("referrals_batch_processing_seconds_count")
    busy = delta("referrals_batch_processing_seconds_sum")
    outcomes = {
        name.split(":", 1)[1]: after[name] - before.get(name, 0.0)
        for name in after
        if name.startswith("referrals_commands_total:")
    }
    commands = sum(outcomes.values())
    stats = {
        "batches": batches,
        "mean commands/batch": commands / batches if batches else 0.0,
        "mean batch ms": 1000 * busy / batches if batches else 0.0,
        "% of the phase in batches": 100 * busy / seconds if seconds else 0.0,
    }
    # Every outcome is exported from zero; the report names those that happened.
    stats.update({f"{kind} commands": n for kind, n in sorted(outcomes.items()) if n})
    fast, models = (
        delta("referrals_decisions_total:fast"),
        delta("referrals_decisions_total:models"),
    )
    if fast + models:
        stats["% decided by the fast path"] = 100 * fast / (fast + models)
    # Where a batch's time goes, stage by stage (the consume loop times each).
    prefix = "referrals_batch_stage_seconds_sum:"
    for name in after:
        if name.startswith(prefix) and batches:
            stats[f"mean {name.removeprefix(prefix)} ms"] = 1000 * delta(name) / batches
    return stats


def _check(
    result: RunResult,
    phase: str,
    by_topic: dict[str, int],
    stats: dict[str, float] | None,
    stream: Sequence[Record],
    settings: Settings,
) -> None:
    """Did each command get the outcome the mix planned for it?"""
    if result.store is None:
        return  # the passthrough: nothing planned but a copy of each record
    expected = summary(stream)
    seen = (by_topic.get(settings.events_topic, 0), by_topic.get(settings.rejections_topic, 0))
    if seen != (expected["event"], expected["rejection"]):
        result.notes.append(
            f"{result.name} {phase}: {seen[0]} events and {seen[1]} rejections read, "
            f"expected {expected['event']} and {expected['rejection']}"
        )
    if stats:
        counted = tuple(
            int(stats.get(f"{name} commands", 0)) for name in ("applied", "rejected", "duplicate")
        )
        planned = (expected["event"], expected["rejection"], expected["duplicate"])
        if counted != planned:
            result.notes.append(
                f"{result.name} {phase}: /metrics counted applied/rejected/duplicate {counted}, "
                f"planned {planned}"
            )


def run_service(
    bootstrap: str,
    workdir: Path,
    streams: dict[str, list[Record]],
    options: Options,
    run: ServiceRun,
    round_index: int = 0,
    database_url: str | None = None,
) -> tuple[RunResult, Settings]:
    """The service ``run``: on SQLite in ``workdir``, or the database at ``database_url``."""
    label = f"{run.label}-r{round_index + 1}"
    settings = settings_for(label, bootstrap, workdir, options, database_url, run.setting)
    name = run.name
    child = Child(name, ["service.cli", "run"], environment(settings), workdir / f"{label}.log")
    port = settings.http_port

    async def ready() -> bool:
        answer = await http_get(port, "/readyz")
        if answer is None or answer[0] != 200:
            return False
        return await _all_assigned(port, run.workers)

    result = RunResult(
        name, store=run.store, workers=run.workers, default=run.is_default, round=round_index
    )
    if options.stored:
        print(f"storing {options.stored:,} referrals for the {name}", file=sys.stderr)
        took = run_preload(settings.database_url.get_secret_value(), options.stored)
        result.notes_ok.append(
            f"{options.stored:,} referrals stored before the run, then left at rest ({took:.0f} s)"
        )
    child.start()
    try:
        _run(
            _measure(
                result,
                settings,
                child,
                streams,
                options,
                ready=ready,
                output_topics=[settings.events_topic, settings.rejections_topic],
                identify=OUTCOME_ID,
                counts_output=lambda record: record.outcome != "duplicate",
                metrics_port=port,
            )
        )
    finally:
        status = child.stop()
    record_stop(result, child, status)
    return result, settings


def record_stop(result: RunResult, child: Child, status: int | None) -> None:
    """What the run's stop says: its exit status, processes left behind, its memory."""
    if status not in (0, None):
        result.notes.append(f"the {result.name} exited with status {status} on SIGTERM")
    if child.leftovers:
        result.notes.append(
            f"the {result.name} left {len(child.leftovers)} processes of its group behind "
            "when it exited (killed)"
        )
    result.memory = child.memory


def run_passthrough(
    bootstrap: str,
    workdir: Path,
    streams: dict[str, list[Record]],
    options: Options,
    round_index: int = 0,
    slot: int = 0,
) -> RunResult:
    settings = settings_for("passthrough", bootstrap, workdir, options)
    ready_file = workdir / f"passthrough-{uuid.uuid4().hex[:8]}.ready"
    child = Child(
        "passthrough",
        ["bench.passthrough", "--ready-file", str(ready_file)],
        environment(settings),
        workdir / f"passthrough-r{round_index + 1}-{slot}.log",
    )

    async def ready() -> bool:
        return ready_file.exists()

    result = RunResult("passthrough", round=round_index, slot=slot)
    child.start()
    try:
        _run(
            _measure(
                result,
                settings,
                child,
                streams,
                options,
                ready=ready,
                output_topics=[settings.events_topic],
                identify=COMMAND_ID,
                counts_output=lambda record: True,
                metrics_port=None,
            )
        )
    finally:
        status = child.stop()
    record_stop(result, child, status)
    return result


@contextlib.contextmanager
def _workdir(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        yield chosen.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="referrals-bench-") as temporary:
        yield Path(temporary)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop children


def _run(measuring: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` where SIGTERM cancels the measurement, so its clients close cleanly."""

    async def cancellable() -> None:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            await measuring
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, _exit_on_sigterm)

    try:
        asyncio.run(cancellable())
    except asyncio.CancelledError:
        raise SystemExit(128 + signal.SIGTERM) from None


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    host = machine()  # before the run: the load average says whether the machine was idle
    started, clock = datetime.now(UTC), time.monotonic()
    streams = {
        WARMUP: command_stream(options.seed - 1, options.warmup_referrals, "warm"),
        THROUGHPUT: command_stream(options.seed, options.referrals, "tput", options.in_flight),
        LATENCY: command_stream(
            options.seed + 1, options.latency_referrals, "lat", options.in_flight
        ),
    }
    if not streams[WARMUP]:
        del streams[WARMUP]
    try:
        server = None if options.postgres_url is None else probe(options.postgres_url)
        with _workdir(options.workdir) as workdir:
            services, settings, passthroughs = _run_all(workdir, streams, options, server)
    except PostgresUnavailable as error:
        print(
            f"bench: error: {error}\nStart the server (`make postgres`), point "
            f"{ADMIN_URL_VARIABLE} or --postgres-url at one, or pass --no-postgres.",
            file=sys.stderr,
        )
        return 2
    decision = measure_decision()
    report = Report(
        started=started,
        runtime_seconds=time.monotonic() - clock,
        host=host,
        settings=_settings_shown(settings, server, options),
        workload=_workload_shown(streams, options),
        services=services,
        passthroughs=passthroughs,
        rounds=options.rounds,
        skipped=[] if server is not None else [NO_POSTGRES],
        decision=decision.describe(),
        decide_us=decision.total_us,
        decide_ratio=decision.over_models,
        decision_profile=profile_decision(),
        arguments=sys.argv[1:],
        more_targets=_stored_targets(services, passthroughs, options),
    )
    _print(report)
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(markdown(report))
        print(f"wrote {options.output}")
    return 1 if any(run.notes for run in (*services, *passthroughs)) else 0


def _print(report: Report) -> None:
    print()
    print(text_table(summary_rows(report.services, report.passthroughs), SUMMARY_COLUMNS))
    for row in (*target_rows(report.services, report.passthroughs, report.decide_us,
                             report.decide_ratio), *report.more_targets):  # fmt: skip
        print(f"target: {row[0]} ({row[1] or 'pure'}) {row[2]}: {row[3]} {row[4]}")
    for reason in report.skipped:
        print(f"not measured: {reason}")
    print(f"\nreading and deciding: {report.decision}")
    print(f"runtime {report.runtime_seconds:.1f} s")


def _stored_targets(
    services: Sequence[RunResult], passthroughs: Sequence[RunResult], options: Options
) -> list[tuple[str, ...]]:
    """With referrals stored: each run's throughput over the same run's in the report of a
    run without (``--compare-with``), when there is one."""
    if not options.stored or options.compare_with is None:
        return []
    try:
        without = read_figures(options.compare_with.read_text())
    except OSError:
        return []
    return stored_rows(services, passthroughs, options.stored, without, options.compare_with.name)


def _run_all(
    workdir: Path, streams: dict[str, list[Record]], options: Options, server: Server | None
) -> tuple[list[RunResult], Settings, list[RunResult]]:
    """Rounds of each service run (each store, each worker count) between runs of the
    passthrough, all on one broker (``bench.rounds``); returns every service run, the
    settings of one and every passthrough run."""
    broker = EmbeddedBroker(log_path=workdir / "tansu.log")
    services: list[RunResult] = []
    passthroughs: list[RunResult] = []
    settings: Settings | None = None
    stores = ["SQLite"] if server is None or options.postgres_url is None else STORES
    default = default_workers(Settings.model_fields["topic_partitions"].default)
    runs = service_runs(stores, options.workers, default)
    try:
        broker.start()
        bootstrap = broker.bootstrap_servers
        print(f"broker on {bootstrap}; logs in {workdir}", file=sys.stderr)
        order = [
            (round_index, run)
            for round_index in range(options.rounds)
            for run in round_order(runs, round_index)
        ]
        for slot, (round_index, run) in enumerate(order):
            if not isinstance(run, ServiceRun):
                passthroughs.append(
                    run_passthrough(bootstrap, workdir, streams, options, round_index, slot)
                )
                continue
            result, settings = _service_run(
                bootstrap, workdir, streams, options, run, round_index, server
            )
            result.slot = slot
            services.append(result)
    finally:
        broker.stop()
    assert settings is not None  # every round runs at least one service run
    return services, settings, passthroughs


def _service_run(
    bootstrap: str,
    workdir: Path,
    streams: dict[str, list[Record]],
    options: Options,
    run: ServiceRun,
    round_index: int,
    server: Server | None,
) -> tuple[RunResult, Settings]:
    """``run`` of round ``round_index``; on PostgreSQL, on a database of its own."""
    if run.store == "SQLite" or options.postgres_url is None or server is None:
        return run_service(bootstrap, workdir, streams, options, run, round_index)
    with fresh_database(options.postgres_url) as (name, url):
        print(f"PostgreSQL {server.version} at {server.address}: database {name}", file=sys.stderr)
        return run_service(bootstrap, workdir, streams, options, run, round_index, url)


def _settings_shown(settings: Settings, server: Server | None, options: Options) -> dict[str, str]:
    if server is None:
        postgres = "not measured (`--no-postgres`)"
    else:
        postgres = (
            f"PostgreSQL {server.version} at {server.address}, a fresh database for each run, "
            f"dropped after it; pool of {settings.database_pool_size} connections "
            f"(database_pool_size) per process; server "
            f"synchronous_commit={server.synchronous_commit}, "
            f"fsync={server.fsync}"
        )
    return {
        "fetch_max_wait_ms": str(settings.fetch_max_wait_ms),
        "max_batch_size": f"{settings.max_batch_size} (records per getmany)",
        "topic_partitions": str(settings.topic_partitions),
        "workers": _workers_shown(settings, options),
        "event_mode": settings.event_mode.value,
        "session_timeout_ms": str(settings.session_timeout_ms),
        "producer": f"{_producer_shown(settings)} (service.kafka.make_producer)",
        "store (SQLite)": "a file in the run's temporary directory, WAL, synchronous=FULL "
        "(the service's embedded default)",
        "store (PostgreSQL)": postgres,
        "log_level": settings.log_level,
    }


def _workers_shown(settings: Settings, options: Options) -> str:
    default = default_workers(settings.topic_partitions)
    return (
        f"{', '.join(options.workers)} (`--workers`); the default, 0, is {default} here: "
        f"{usable_cpus()} usable CPUs (service.workers.count), capped by "
        f"{settings.topic_partitions} "
        "partitions"
    )


def _producer_shown(settings: Settings) -> str:
    """What ``make_producer`` passes to ``AIOKafkaProducer``, aiokafka's default otherwise:
    the options are caught on their way in, so the report follows the code."""
    passed: dict[str, Any] = {}

    def catch(**options: Any) -> None:
        passed.update(options)

    with mock.patch("service.kafka.AIOKafkaProducer", catch):
        make_producer(settings)
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(AIOKafkaProducer).parameters.items()
    }

    def option(name: str) -> Any:
        return passed.get(name, defaults.get(name))

    idempotence = "idempotent" if option("enable_idempotence") else "no idempotence"
    return (
        f"acks={option('acks')}, {idempotence}, linger_ms={option('linger_ms')},"
        f" max_batch_size={option('max_batch_size')} bytes"
    )


def _workload_shown(streams: dict[str, list[Record]], options: Options) -> dict[str, str]:
    shown: dict[str, str] = {}
    for phase, stream in streams.items():
        counts = summary(stream)
        mean_bytes = counts["bytes"] / max(len(stream), 1)
        referrals = {
            WARMUP: options.warmup_referrals,
            THROUGHPUT: options.referrals,
            LATENCY: options.latency_referrals,
        }[phase]
        how = {
            WARMUP: "sent before measuring, not counted",
            THROUGHPUT: "queued as a backlog, then consumed",
            LATENCY: f"produced at {options.rate:g} commands/s",
        }[phase]
        shown[phase] = (
            f"{counts['commands']} commands over {referrals} referrals ({how}): "
            f"applied {counts['event']}, refused {counts['rejection']}, "
            f"duplicates {counts['duplicate']}; mean record {mean_bytes:.0f} B"
        )
    shown["mix"] = (
        f"per referral create, 2 patches, accept, win/lose/decline; ~{REJECTED_SHARE:.0%} "
        f"refused, ~{DUPLICATE_SHARE:.0%} duplicates; structured/binary 50/50; "
        f"{options.in_flight} referrals interleaved; seed {options.seed}"
    )
    return shown


if __name__ == "__main__":
    sys.exit(main())
