"""A run's rounds: each service run's figures over the passthrough of its own round, the
median of the rounds, the rounds pooled, and the figures a later report compares with.

Every round measures each service run between two runs of the passthrough
(``bench.rounds``), so a ratio is taken between runs next to each other, on the machine as
it was then; the report gives the median of those ratios, and each round's beside it.
"""

import json
import math
import re
import statistics
from collections.abc import Sequence

from bench.cpu import added
from bench.measure import PhaseResult
from bench.report_model import LATENCY, THROUGHPUT, RunResult

#: Ratios a figure can be: records/s over the passthrough's, p99 latency over its.
RATIO, P99_RATIO = "ratio", "p99 ratio"


def series(runs: Sequence[RunResult]) -> dict[str, list[RunResult]]:
    """The runs by name, in the order they first appear, each list in round order."""
    grouped: dict[str, list[RunResult]] = {}
    for run in runs:
        grouped.setdefault(run.name, []).append(run)
    return {name: sorted(rounds, key=lambda run: run.round) for name, rounds in grouped.items()}


def round_ratio(
    run: RunResult, passthroughs: Sequence[RunResult], figure: str, phase: str
) -> float | None:
    """``run``'s figure over the passthrough's beside it (the mean of the runs just before
    and after it, ``slot`` counting every run in the order run; every one of its round when
    none is beside it); None when either is missing."""
    ours = run.phases.get(phase)
    measured = [p for p in passthroughs if phase in p.phases]
    beside = [p for p in measured if abs(p.slot - run.slot) == 1] or [
        p for p in measured if p.round == run.round
    ]
    if ours is None or not beside:
        return None
    bases = [p.phases[phase] for p in beside]
    if figure == RATIO:
        a, b = ours.per_second, statistics.fmean(base.per_second for base in bases)
    else:
        a, b = ours.percentile_ms(99), statistics.fmean(base.percentile_ms(99) for base in bases)
    return None if not b or math.isnan(a) or math.isnan(b) else a / b


def ratios(
    rounds: Sequence[RunResult], passthroughs: Sequence[RunResult], figure: str, phase: str
) -> list[float]:
    found = (round_ratio(run, passthroughs, figure, phase) for run in rounds)
    return [ratio for ratio in found if ratio is not None]


def median_ratio(
    rounds: Sequence[RunResult], passthroughs: Sequence[RunResult], figure: str, phase: str
) -> float | None:
    found = ratios(rounds, passthroughs, figure, phase)
    return statistics.median(found) if found else None


def _median(values: Sequence[float]) -> float:
    kept = [value for value in values if not math.isnan(value)]
    return statistics.median(kept) if kept else math.nan


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _each(values: Sequence[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def _memory(run: Sequence[RunResult]) -> str:
    """Peak resident memory over the rounds: the whole tree, then each process."""
    memories = [r.memory for r in run if r.memory is not None and r.memory.tree_kib]
    if not memories:
        return "n/a"
    top = max(memories, key=lambda memory: memory.tree_kib)
    parts = [f"{top.parent_mib() or 0:.0f}"] + [f"{mib:.0f}" for mib in top.others_mib()]
    return f"{top.tree_mib:,.0f} ({' + '.join(parts)})"


SUMMARY_COLUMNS = (
    "run",
    "backlog records/s",
    "/ passthrough",
    "each round",
    "latency p50 ms",
    "p99 ms",
    "p99 / passthrough's",
    "each round",
    "peak RSS MiB (parent + each other process)",
)


def summary_rows(
    services: Sequence[RunResult], passthroughs: Sequence[RunResult]
) -> list[tuple[str, ...]]:
    """Per run, the median over its rounds of each figure, the ratios round by round, and
    the peak memory of the round whose process tree held the most."""
    table: list[tuple[str, ...]] = []
    for name, rounds in {**series(services), "passthrough": list(passthroughs)}.items():
        is_base = name == "passthrough"
        tput = [run.phases[THROUGHPUT] for run in rounds if THROUGHPUT in run.phases]
        lat = [run.phases[LATENCY] for run in rounds if LATENCY in run.phases]
        tput_ratios = ratios(rounds, passthroughs, RATIO, THROUGHPUT)
        p99_ratios = ratios(rounds, passthroughs, P99_RATIO, LATENCY)
        table.append((
            name,
            _fmt([p.per_second for p in tput], 0),
            "" if is_base else _x(median_ratio(rounds, passthroughs, RATIO, THROUGHPUT)),
            "" if is_base else _each(tput_ratios),
            _fmt([p.percentile_ms(50) for p in lat], 1),
            _fmt([p.percentile_ms(99) for p in lat], 1),
            "" if is_base else _x(median_ratio(rounds, passthroughs, P99_RATIO, LATENCY)),
            "" if is_base else _each(p99_ratios),
            _memory(rounds),
        ))  # fmt: skip
    return table


def _fmt(values: Sequence[float], digits: int) -> str:
    value = _median(values)
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def pooled(rounds: Sequence[RunResult]) -> RunResult:
    """One run of all ``rounds``: each phase's records, time and latencies added up, each
    /metrics figure the mean of the rounds'; the notes of each."""
    first = rounds[0]
    merged = RunResult(first.name, first.store, workers=first.workers, default=first.default)
    for phase in dict.fromkeys(phase for run in rounds for phase in run.phases):
        results = [run.phases[phase] for run in rounds if phase in run.phases]
        merged.phases[phase] = PhaseResult(
            records=sum(r.records for r in results),
            outputs=sum(r.outputs for r in results),
            seconds=sum(r.seconds for r in results),
            produce_seconds=sum(r.produce_seconds for r in results),
            latencies=[latency for r in results for latency in r.latencies],
            by_topic={},
            output_bytes=sum(r.output_bytes for r in results),
            cpu=added(r.cpu for r in results),
        )
    for phase in dict.fromkeys(phase for run in rounds for phase in run.stats):
        stats = [run.stats[phase] for run in rounds if phase in run.stats]
        names = dict.fromkeys(name for each in stats for name in each)
        merged.stats[phase] = {
            name: statistics.fmean(each[name] for each in stats if name in each) for name in names
        }
    for run in rounds:
        merged.notes += run.notes
        merged.notes_ok += [note for note in run.notes_ok if note not in merged.notes_ok]
    return merged


FIGURES = re.compile(r"<!-- bench figures: (\{.*?\}) -->")


def figure_key(run: RunResult) -> str:
    """A service run's key in the figures: its store and worker processes, whatever its
    name (a count is the default in one run and asked for by number in another)."""
    return f"{run.store}, workers={run.workers}"


def figures_comment(services: Sequence[RunResult], passthroughs: Sequence[RunResult]) -> str:
    """Each service run's median throughput ratio, for a later report to compare with (a
    comment, which a rendered report does not show)."""
    figures = {
        figure_key(rounds[0]): ratio
        for rounds in series(services).values()
        if (ratio := median_ratio(rounds, passthroughs, RATIO, THROUGHPUT)) is not None
    }
    return f"<!-- bench figures: {json.dumps({'throughput ratio': figures})} -->"


def read_figures(report: str) -> dict[str, float]:
    """The median throughput ratio of each service run of a report, by ``figure_key``; {}
    when it has none."""
    found = FIGURES.search(report)
    if found is None:
        return {}
    ratios_by_key = json.loads(found.group(1)).get("throughput ratio", {})
    return {str(key): float(ratio) for key, ratio in ratios_by_key.items()}
