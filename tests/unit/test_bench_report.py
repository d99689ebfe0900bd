"""The benchmark report holds each run to the targets and says what a command costs."""

from dataclasses import replace

from bench.cpu import BENCHMARK, BROKER, REST, STEAL, UNDER_TEST
from bench.measure import PhaseResult
from bench.report import bound_rows, latency_bound_rows
from bench.report_doc import Report, markdown
from bench.report_model import LATENCY, THROUGHPUT, RunResult
from bench.targets import target_rows


def _phase(records: int, seconds: float, latencies_ms: list[float]) -> PhaseResult:
    return PhaseResult(records, records, seconds, 0.1, [ms / 1000 for ms in latencies_ms], {}, 1)


def _runs() -> tuple[list[RunResult], RunResult]:
    stats = {
        "mean commands/batch": 500.0,
        "mean batch ms": 200.0,
        "mean load ms": 5.0,
        "mean decide ms": 100.0,
        "mean write ms": 40.0,
        "mean publish ms": 20.0,
        "mean commit ms": 2.0,
    }
    sqlite = RunResult(
        "service (SQLite)",
        "SQLite",
        {THROUGHPUT: _phase(1000, 0.5, [1.0]), LATENCY: _phase(10, 1, [12.0] * 10)},
        {THROUGHPUT: stats, LATENCY: {**stats, "mean commands/batch": 1.5,
                                      "mean batch ms": 4.0, "% of the phase in batches": 60.0}},
    )  # fmt: skip
    postgres = RunResult(
        "service (PostgreSQL)",
        "PostgreSQL",
        {THROUGHPUT: _phase(1000, 0.125, [1.0]), LATENCY: _phase(10, 1, [14.0] * 10)},
    )
    passthrough = RunResult(
        "passthrough", None, {THROUGHPUT: _phase(1000, 0.1, [1.0]), LATENCY: _phase(10, 1, [10.0])}
    )
    return [sqlite, postgres], passthrough


def test_each_target_is_shown_met_or_not_from_the_run_figures() -> None:
    services, passthrough = _runs()

    shown = {(row[0], row[1]): row[3:] for row in target_rows(services, [passthrough], 150.0, 0.25)}

    throughput = "throughput, backlog drained, over the passthrough"
    latency = "latency p99 at a fixed rate, over the passthrough's"
    assert shown[(throughput, "SQLite, 1 worker")] == ("0.20x", "**not met**")  # against 0.25
    assert shown[(throughput, "PostgreSQL, 1 worker")] == ("0.80x", "met")
    assert shown[(latency, "SQLite, 1 worker")] == ("1.20x", "met")
    assert shown[(latency, "PostgreSQL, 1 worker")] == ("1.40x", "met")
    assert shown[("read and decide, CPU per command (µs)", "")] == ("150.0", "**not met**")
    assert shown[("read and decide, over the models' path alone", "")] == ("0.25x", "met")


def test_the_bound_is_each_stage_per_command_beside_the_passthrough_and_the_budget() -> None:
    services, passthrough = _runs()

    header, *table = bound_rows(services, passthrough)
    by_stage = {row[0]: row[1:] for row in table}

    assert header == ("stage", "service (SQLite)")  # the PostgreSQL run has no /metrics here
    assert by_stage["decide"] == ("200.0",)
    assert by_stage["write"] == ("80.0",)
    assert by_stage["all of a command, measured (1 / records per second)"] == ("500.0",)
    assert by_stage["passthrough, all of a record"] == ("100.0",)
    assert by_stage["budget of a command at 0.25x (SQLite, 1 worker)"] == ("400.0",)


def test_the_bound_says_where_the_machine_cpu_went_for_the_service_and_the_passthrough() -> None:
    services, passthrough = _runs()
    drained = {UNDER_TEST: 0.1, BENCHMARK: 0.02, BROKER: 0.008, REST: 0.01, STEAL: 0.05,
               "wall": 0.5}  # fmt: skip
    services[0].phases[THROUGHPUT] = replace(services[0].phases[THROUGHPUT], cpu=drained)
    copied = {UNDER_TEST: 0.03, BENCHMARK: 0.01, BROKER: 0.002, REST: 0.005, STEAL: 0.0,
              "wall": 0.1}  # fmt: skip
    passthrough.phases[THROUGHPUT] = replace(passthrough.phases[THROUGHPUT], cpu=copied)

    _, *table = bound_rows(services, passthrough)
    by_row = {row[0]: row[1:] for row in table}

    assert by_row["CPU of a command: its own processes"] == ("100.0",)  # 0.1 s, 1,000
    assert by_row["CPU of a command: the benchmark's reader"] == ("20.0",)
    assert by_row["CPU of a command: the broker"] == ("8.0",)
    assert by_row["CPU of a command: the rest of the machine (PostgreSQL, kernel)"] == ("10.0",)
    assert by_row["cores busy while it drained"] == ("0.28",)
    assert by_row["cores the hypervisor took meanwhile (steal)"] == ("0.10",)
    assert by_row["passthrough, CPU of a record: its own processes"] == ("30.0",)
    assert by_row["passthrough, CPU of a record: the broker"] == ("2.0",)
    assert by_row["passthrough, cores busy while it drained"] == ("0.47",)


def test_without_a_cpu_account_the_bound_has_no_cpu_rows() -> None:
    services, passthrough = _runs()

    _, *table = bound_rows(services, passthrough)

    assert not [row for row in table if "CPU" in row[0] or "cores" in row[0]]


def test_the_latency_bound_is_each_stage_per_batch_beside_the_p99s_the_target_compares() -> None:
    services, passthrough = _runs()

    header, *table = latency_bound_rows(services, passthrough)
    by_row = {row[0]: row[1:] for row in table}

    assert header == ("per batch, ms", "service (SQLite)")
    assert by_row["commands a batch"] == ("1.50",)
    assert by_row["write"] == ("40.00",)
    assert by_row["a batch, from the poll to its outcomes published"] == ("4.00",)
    assert by_row["% of the phase in batches (overlapping ones count twice)"] == ("60.0",)
    assert by_row["p99 of a command, send to outcome read"] == ("12.0",)
    assert by_row["passthrough p99"] == ("10.0",)
    assert by_row["p99 the target allows (goal x the passthrough's)"] == ("12.5",)


def test_a_run_without_postgres_reports_the_targets_it_has() -> None:
    services, passthrough = _runs()
    report = markdown(Report(
        started=__import__("datetime").datetime(2026, 12, 1),
        runtime_seconds=1,
        host=dict.fromkeys(("nproc", "cpu", "kernel", "load", "python", "aiokafka", "asyncpg",
                            "broker", "commit"), "x"),
        settings={},
        workload={},
        services=services[:1],
        passthroughs=[passthrough],
        decide_us=None,
    ))  # fmt: skip

    assert "Against the targets" in report
    assert "SQLite, 1 worker | ≥ 0.25x" in report
    assert "PostgreSQL, 1 worker | ≥ 0.3x" not in report
    assert "What bounds the throughput" in report
    assert "What bounds the latency" in report
