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

import asyncio
import contextlib
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench.cpu import processes_given
from bench.cpu import snapshot as cpu_snapshot
from bench.decision import measure as measure_decision
from bench.decision import profile as profile_decision
from bench.measure import COMMAND_ID, OUTCOME_ID, Identify, OutcomeReader, run_phase
from bench.options import Options, parse, phase_streams
from bench.postgres import (
    ADMIN_URL_VARIABLE,
    PostgresUnavailable,
    Server,
    fresh_database,
    probe,
)
from bench.preload import run_preload
from bench.processes import Child, http_get, wait_until
from bench.report import machine, text_table
from bench.report_doc import Report, markdown
from bench.report_model import LATENCY, THROUGHPUT, WARMUP, RunResult
from bench.rounds import (
    ServiceRun,
    default_workers,
    round_order,
    service_runs,
)
from bench.scrape import all_assigned, batch_stats, scrape, scrape_settled
from bench.series import SUMMARY_COLUMNS, read_figures, summary_rows
from bench.shown import settings_shown, workload_shown
from bench.targets import stored_rows, target_rows
from bench.workload import Record, summary
from service.broker import EmbeddedBroker, free_port
from service.kafka import make_producer
from service.settings import Settings

READY_TIMEOUT = 60.0
NO_POSTGRES = "the service on PostgreSQL (`--no-postgres`)"
STORES = ["SQLite", "PostgreSQL"]


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
        settled = await scrape(metrics_port)
        broker = processes_given(f"tcp://{settings.kafka_bootstrap_servers}")
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
                cpu=partial(cpu_snapshot, child.members, broker) if phase == THROUGHPUT else None,
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
                settled = await scrape_settled(metrics_port, before, len(stream))
            if phase == WARMUP:
                continue
            result.phases[phase] = measured
            if metrics_port is not None:
                result.stats[phase] = batch_stats(before, settled, measured.seconds)
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
    child = Child(
        name, ["service.cli", "run"], settings.child_environment(), workdir / f"{label}.log"
    )
    port = settings.http_port

    async def ready() -> bool:
        answer = await http_get(port, "/readyz")
        if answer is None or answer[0] != 200:
            return False
        return await all_assigned(port, run.workers)

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
    stored_first: str | None = None,
    round_trips: int = 1,
) -> RunResult:
    """The passthrough's run; ``stored_first``: the store it writes each batch to before
    sending it, in ``round_trips`` (``bench.passthrough --stored-first``)."""
    settings = settings_for("passthrough", bootstrap, workdir, options)
    ready_file = workdir / f"passthrough-{uuid.uuid4().hex[:8]}.ready"
    storing = (
        ["--stored-first", stored_first, "--round-trips", str(round_trips)] if stored_first else []
    )
    child = Child(
        "passthrough",
        ["bench.passthrough", "--ready-file", str(ready_file), *storing],
        settings.child_environment(),
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
    streams = phase_streams(options)
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
        settings=settings_shown(settings, server, options),
        workload=workload_shown(streams, options),
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


if __name__ == "__main__":
    sys.exit(main())
