"""The benchmark's runs with worker processes: which runs a set of counts makes, the order of
the rounds, each run's ratio over the passthrough of its own round, and the targets."""

from dataclasses import replace

import pytest

from bench.measure import PhaseResult
from bench.options import DEFAULT_OUTPUT, parse
from bench.report_model import LATENCY, THROUGHPUT, RunResult
from bench.rounds import (
    DEFAULT_SET,
    PASSTHROUGH,
    ServiceRun,
    default_workers,
    parse_workers,
    round_order,
    service_runs,
)
from bench.series import (
    figures_comment,
    median_ratio,
    pooled,
    read_figures,
    round_ratio,
    summary_rows,
)
from bench.targets import stored_rows, target_rows
from service.workers.count import usable_cpus


def _phase(records: int, seconds: float, latencies_ms: list[float]) -> PhaseResult:
    return PhaseResult(records, records, seconds, 0.1, [ms / 1000 for ms in latencies_ms], {}, 1)


def _run(name: str, store: str | None, workers: int, index: int, per_second: float,
         p99_ms: float) -> RunResult:  # fmt: skip
    return RunResult(
        name,
        store,
        {THROUGHPUT: _phase(1000, 1000 / per_second, [1.0]),
         LATENCY: _phase(10, 1, [p99_ms] * 10)},
        workers=workers,
        round=index,
    )  # fmt: skip


def test_the_default_count_already_in_the_set_is_run_once_as_the_default() -> None:
    runs = service_runs(["SQLite", "PostgreSQL"], parse_workers("1,2,default"), default=2)

    assert [(run.name, run.setting) for run in runs] == [
        ("service (SQLite, 1 worker)", 1),
        ("service (SQLite, 2 workers (the default))", 0),
        ("service (PostgreSQL, 1 worker)", 1),
        ("service (PostgreSQL, 2 workers (the default))", 0),
    ]


def test_the_default_is_the_services_usable_cpus_capped_by_the_partitions() -> None:
    assert default_workers(partitions=64) == usable_cpus()
    assert default_workers(partitions=1) == 1


def test_a_default_not_in_the_set_is_a_run_of_its_own() -> None:
    runs = service_runs(["SQLite"], parse_workers("1, 2, default"), default=4)

    assert [(run.name, run.setting) for run in runs] == [
        ("service (SQLite, 1 worker)", 1),
        ("service (SQLite, 2 workers)", 2),
        ("service (SQLite, default = 4 workers)", 0),
    ]
    assert len({run.label for run in runs}) == 3


def test_without_default_in_the_set_every_run_has_its_count() -> None:
    runs = service_runs(["SQLite"], parse_workers("2,1,2"), default=2)

    assert [(run.workers, run.setting) for run in runs] == [(2, 2), (1, 1)]


@pytest.mark.parametrize("text", ["", "0", "two", "1,-1", "1,,default,x"])
def test_a_worker_set_of_anything_but_positive_counts_and_default_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"positive count|no worker count"):
        parse_workers(text)


def test_a_service_run_is_between_two_passthroughs_the_order_reversed_each_round() -> None:
    one, two = ServiceRun("SQLite", 1, 1), ServiceRun("SQLite", 2, 0)

    orders = [round_order([one, two], index) for index in range(3)]

    assert orders[0] == [PASSTHROUGH, one, PASSTHROUGH, two, PASSTHROUGH]
    # The last passthrough of a round is the first of the next.
    assert orders[1] == [two, PASSTHROUGH, one, PASSTHROUGH]
    assert orders[2] == orders[0][1:]


def test_a_service_run_is_divided_by_the_passthrough_runs_beside_it() -> None:
    passthroughs = [_run("passthrough", None, 1, 0, rate, 10.0) for rate in (3e4, 1e4, 5e4)]
    for slot, passthrough in zip((0, 2, 4), passthroughs, strict=True):
        passthrough.slot = slot
    first = _run("service (SQLite, 1 worker)", "SQLite", 1, 0, 1e4, 12.0)
    second = _run("service (SQLite, 2 workers)", "SQLite", 2, 0, 1.5e4, 12.0)
    first.slot, second.slot = 1, 3

    assert round_ratio(first, passthroughs, "ratio", THROUGHPUT) == pytest.approx(0.5)
    assert round_ratio(second, passthroughs, "ratio", THROUGHPUT) == pytest.approx(0.5)
    assert round_ratio(second, passthroughs, "p99 ratio", LATENCY) == pytest.approx(1.2)
    # The next round's first service run has the last passthrough of this one beside it.
    third = _run("service (SQLite, 2 workers)", "SQLite", 2, 1, 2.5e4, 12.0)
    third.slot = 5
    assert round_ratio(third, passthroughs, "ratio", THROUGHPUT) == pytest.approx(0.5)


def _rounds() -> tuple[list[RunResult], list[RunResult]]:
    """Three rounds; the passthrough's speed drifts, the service's ratio holds within each."""
    name = "service (SQLite, 2 workers (the default))"
    base = [30000.0, 15000.0, 20000.0]
    services = [
        _run(name, "SQLite", 2, index, per_second=rate * ratio, p99_ms=p99)
        for index, (rate, ratio, p99) in enumerate(zip(base, (0.5, 0.4, 0.3), (12, 16, 10),
                                                       strict=True))
    ]  # fmt: skip
    passthroughs = [_run("passthrough", None, 1, i, rate, 10.0) for i, rate in enumerate(base)]
    return services, passthroughs


def test_a_ratio_is_the_median_of_each_round_over_its_own_passthrough() -> None:
    services, passthroughs = _rounds()

    assert median_ratio(services, passthroughs, "ratio", THROUGHPUT) == pytest.approx(0.4)
    assert median_ratio(services, passthroughs, "p99 ratio", LATENCY) == pytest.approx(1.2)
    # Against another round's passthrough the figure would be off: the first round's run
    # over the second round's passthrough is 1.0.
    assert median_ratio(services[:1], passthroughs[1:2], "ratio", THROUGHPUT) is None


def test_the_summary_shows_medians_and_each_round() -> None:
    services, passthroughs = _rounds()

    service, passthrough = summary_rows(services, passthroughs)

    assert service[0] == "service (SQLite, 2 workers (the default))"
    assert service[1:4] == ("6,000", "0.40x", "0.50, 0.40, 0.30")
    assert service[5:8] == ("12.0", "1.20x", "1.20, 1.60, 1.00")
    assert passthrough[:4] == ("passthrough", "20,000", "", "")


def test_the_two_worker_targets_hold_the_two_worker_runs_only() -> None:
    services, passthroughs = _rounds()
    one = [_run("service (SQLite, 1 worker)", "SQLite", 1, i, 6000.0, 12.0) for i in range(3)]

    shown = {(row[0], row[1]): (row[2], *row[3:]) for row in
             target_rows([*one, *services], passthroughs, None)}  # fmt: skip

    throughput = "throughput, backlog drained, over the passthrough"
    latency = "latency p99 at a fixed rate, over the passthrough's"
    assert shown[(throughput, "SQLite, 2 workers")] == ("≥ 0.4x", "0.40x", "met")
    assert shown[(latency, "SQLite, 2 workers")] == ("≤ 1.25x", "1.20x", "met")
    assert shown[(throughput, "SQLite, 1 worker")] == ("≥ 0.25x", "0.30x", "met")
    assert not any(run.startswith("PostgreSQL") for _, run in shown)


def test_a_stored_run_is_held_to_the_figures_a_run_without_wrote() -> None:
    services, passthroughs = _rounds()
    without = read_figures(f"# report\n\n{figures_comment(services, passthroughs)}\n")
    # The same store and workers, asked for by number this time: the same run.
    slower = [_run("service (SQLite, 2 workers)", "SQLite", 2, run.round,
                   run.phases[THROUGHPUT].per_second * 0.85, 12.0) for run in services]  # fmt: skip

    (row,) = stored_rows(slower, passthroughs, 1_000_000, without, "benchmarks.md")

    assert without == {"SQLite, workers=2": pytest.approx(0.4)}
    assert row[0] == "throughput with 1,000,000 stored, over the run without (benchmarks.md)"
    assert row[1] == "service (SQLite, 2 workers)"
    assert row[2:] == ("≥ 0.9x", "0.85x (0.34 / 0.40)", "**not met**")
    assert read_figures("# a report of before\n") == {}


def test_the_rounds_pooled_add_up_records_and_time_and_average_the_metrics() -> None:
    services, _ = _rounds()
    for index, run in enumerate(services):
        run.stats[THROUGHPUT] = {"mean batch ms": 10.0 * (index + 1)}
        drained = replace(run.phases[THROUGHPUT], cpu={"under test": 0.5, "wall": 1.0})
        run.phases[THROUGHPUT] = drained

    merged = pooled(services)

    tput = merged.phases[THROUGHPUT]
    assert tput.records == 3000
    assert tput.seconds == pytest.approx(sum(r.phases[THROUGHPUT].seconds for r in services))
    assert len(merged.phases[LATENCY].latencies) == 30
    assert merged.stats[THROUGHPUT] == {"mean batch ms": pytest.approx(20.0)}
    assert merged.phases[THROUGHPUT].cpu == {"under test": 1.5, "wall": 3.0}  # added up
    assert merged.workers == 2


def test_the_options_default_to_three_rounds_of_one_two_and_the_default_workers() -> None:
    options = parse([])

    assert (options.workers, options.rounds, options.compare_with) == (DEFAULT_SET, 3, None)


def test_a_stored_run_is_one_round_held_to_the_report_of_the_run_without() -> None:
    options = parse(["--stored", "1000000", "--output", "docs/benchmarks-stored.md"])

    assert (options.rounds, options.compare_with) == (1, DEFAULT_OUTPUT)


def test_a_worker_set_that_does_not_parse_is_refused_at_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parse(["--workers", "1,none"])

    assert "--workers: 'none' is neither a positive count nor 'default'" in capsys.readouterr().err
