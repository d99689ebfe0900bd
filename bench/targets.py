"""The performance goals a benchmark run is held to, and its figure for each.

A service run's figure is the median over the rounds of its ratio to the passthrough of
the same round (``bench.series``). The single-process runs keep the goals they had; the
runs with two worker processes (the default of ``referrals run`` on two CPUs) have their
own.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.report_model import LATENCY, THROUGHPUT, RunResult
from bench.series import P99_RATIO, RATIO, figure_key, median_ratio, series


@dataclass(frozen=True)
class Target:
    """A performance goal: ``figure`` of a service run (by store and worker processes) at
    most or at least ``goal``."""

    what: str
    store: str | None
    phase: str
    #: "ratio" (records/s over the passthrough's), "p99 ratio", "decide µs" (read and decide,
    #: the fast path first), "decide ratio" (that over the models' path alone, same run).
    figure: str
    goal: float
    at_least: bool
    workers: int = 1

    def met(self, value: float) -> bool:
        return value >= self.goal if self.at_least else value <= self.goal

    def holds_for(self, run: RunResult) -> bool:
        return run.store == self.store and run.workers == self.workers

    @property
    def run_shown(self) -> str:
        if self.store is None:
            return ""
        return f"{self.store}, {self.workers} worker{'s' if self.workers > 1 else ''}"


_TPUT = "throughput, backlog drained, over the passthrough"
_LAT = "latency p99 at a fixed rate, over the passthrough's"

#: The goals every run is held to (the figures of one run, this report's).
TARGETS = (
    Target(_TPUT, "SQLite", THROUGHPUT, RATIO, 0.25, at_least=True),
    Target(_TPUT, "PostgreSQL", THROUGHPUT, RATIO, 0.3, at_least=True),
    Target(_LAT, "SQLite", LATENCY, P99_RATIO, 1.25, at_least=False),
    Target(_LAT, "PostgreSQL", LATENCY, P99_RATIO, 1.5, at_least=False),
    Target(_TPUT, "SQLite", THROUGHPUT, RATIO, 0.4, at_least=True, workers=2),
    Target(_TPUT, "PostgreSQL", THROUGHPUT, RATIO, 0.35, at_least=True, workers=2),
    Target(_LAT, "SQLite", LATENCY, P99_RATIO, 1.25, at_least=False, workers=2),
    Target(_LAT, "PostgreSQL", LATENCY, P99_RATIO, 1.5, at_least=False, workers=2),
    Target("read and decide, CPU per command (µs)", None, "", "decide µs", 30, at_least=False),
    Target("read and decide, over the models' path alone", None, "", "decide ratio", 0.3,
           at_least=False),
)  # fmt: skip

#: With referrals stored before the run: its throughput ratio over the run without's.
STORED_GOAL = 0.9


def _row(
    what: str, run: str, at_least: bool, goal: float, value: str, met: bool
) -> tuple[str, ...]:
    sign = "≥" if at_least else "≤"
    return (what, run, f"{sign} {goal:g}{'' if what.endswith('(µs)') else 'x'}", value,
            "met" if met else "**not met**")  # fmt: skip


def target_rows(
    services: Sequence[RunResult],
    passthroughs: Sequence[RunResult],
    decide_us: float | None,
    decide_ratio: float | None = None,
) -> list[tuple[str, ...]]:
    """Each target with this run's figure and whether it was met."""
    table: list[tuple[str, ...]] = []
    for target in TARGETS:
        value = _target_value(target, services, passthroughs, decide_us, decide_ratio)
        if value is None:
            continue
        shown = f"{value:.1f}" if target.figure == "decide µs" else f"{value:.2f}x"
        table.append(
            _row(target.what, target.run_shown, target.at_least, target.goal, shown,
                 target.met(value))
        )  # fmt: skip
    return table


def _target_value(
    target: Target,
    services: Sequence[RunResult],
    passthroughs: Sequence[RunResult],
    decide_us: float | None,
    decide_ratio: float | None,
) -> float | None:
    if target.figure == "decide µs":
        return decide_us
    if target.figure == "decide ratio":
        return decide_ratio
    rounds = [run for run in services if target.holds_for(run)]
    return median_ratio(rounds, passthroughs, target.figure, target.phase)


def stored_rows(
    services: Sequence[RunResult],
    passthroughs: Sequence[RunResult],
    stored: int,
    without: Mapping[str, float],
    source: str,
) -> list[tuple[str, ...]]:
    """With ``stored`` referrals in the store: each service run's throughput ratio over
    that of the same run (store and worker processes) in the report ``source`` of a run
    without (``without``, by ``figure_key``), each a ratio to the passthrough of its run."""
    table: list[tuple[str, ...]] = []
    for name, rounds in series(services).items():
        ours = median_ratio(rounds, passthroughs, RATIO, THROUGHPUT)
        theirs = without.get(figure_key(rounds[0]))
        if ours is None or not theirs:
            continue
        value = ours / theirs
        what = f"throughput with {stored:,} stored, over the run without ({source})"
        shown = f"{value:.2f}x ({ours:.2f} / {theirs:.2f})"
        table.append(_row(what, name, True, STORED_GOAL, shown, value >= STORED_GOAL))
    return table
