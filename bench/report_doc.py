"""docs/benchmarks.md: what a run of ``bench.pipeline`` measured, against its targets."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.report import (
    bound_rows,
    latency_bound_rows,
    markdown_table,
    number_shown,
    rows,
)
from bench.report_model import RunResult
from bench.series import SUMMARY_COLUMNS, figures_comment, pooled, series, summary_rows
from bench.targets import target_rows

HEADER = """\
# Benchmarks

**Generated file: every `make bench` overwrites it.** To reproduce, run `make bench`
(that is `.venv/bin/python -m bench.pipeline`; `--help` lists the options for sizes,
rate, fetch wait, worker processes, rounds and the PostgreSQL server).

One run starts one embedded Tansu broker and measures, on it, runs fed the very same
records, each with its own topics and consumer group, all with the same consumer settings
(`fetch_max_wait_ms`, `max_batch_size` records per `getmany`, a manual offset commit per
batch) and the service's own producer (`service.kafka.make_producer`, settings below):

- **service (SQLite, N workers)**: `python -m service.cli run` as a child process with its
  embedded store (a SQLite file in a temporary directory) and the `workers` setting
  (`REFERRALS_WORKERS`) at 1 (the consume loop in the process itself), at 2 (a parent
  process serving the HTTP port and two worker processes, each a member of the consumer
  group), and at its default (0: the usable CPUs, capped by the commands topic's
  partitions; run once, as the default, when that is a count already in the set). It is
  fed a realistic mix of referral commands (create, two JSON-patch edits, accept, then
  win/lose/decline; ~5% refused commands; ~2% duplicates by command id; structured and
  binary CloudEvents mixed; key = referral id). A command is done when its outcome record
  (event or rejection, matched by `causationid`) is read back.
- **service (PostgreSQL, N workers)**: the same service, measured the same way, with
  `REFERRALS_DATABASE_URL` pointing at a fresh database `referrals_bench_<hex>` that the
  benchmark creates, for each run, on the PostgreSQL server of
  `REFERRALS_BENCH_POSTGRES_URL` (the admin connection; default
  `postgresql://postgres@127.0.0.1:5432/test`) and drops afterwards. `--no-postgres` skips
  these runs (the report then says so); without it, an unreachable server fails the
  benchmark before anything is measured.
- **passthrough**: a raw aiokafka consume-and-re-produce loop (`bench/passthrough.py`,
  also a child process) fed the very same records; a record is done when its copy is
  read back from the output topic.

Every round runs each service run once, between two runs of the passthrough (one between
two service runs serves both), each in a fresh process (and store); the order of the
service runs is reversed every other round. A
service run's ratio is taken over the passthrough runs just before and just after it (the
mean of the two), so the two sides of a ratio ran within a minute of each other on a
machine whose load drifts. The figures below are medians over the rounds, each round's
ratio beside them.

Two phases each, after a warm-up: **throughput** (a backlog: the process under test, with
every process it started, is paused with SIGSTOP to its process group while every record
is sent and acknowledged, then resumed; rate = records from the resume to the last outcome
read, so the benchmark's own send rate does not limit it) and **latency** (records produced
at a modest fixed rate so latency is not queueing; latency = send call to the outcome being
read by the benchmark's reader, which uses the same fetch wait). In the throughput phase a
record's latency counts from the resume. p50/p99 are nearest-rank. Peak RSS is each
process's VmHWM, sampled every 0.5 s and at the end of each phase; a run's is the most its
processes held together at one sample (the process tree), beside each process's own.
The benchmark process, the service's processes, the broker and PostgreSQL share the
machine's cores.
"""


@dataclass(frozen=True)
class Report:
    """What the run measured and what it ran on."""

    started: datetime
    runtime_seconds: float
    host: Mapping[str, str]
    settings: Mapping[str, str]
    workload: Mapping[str, str]
    #: Every round's service runs, and every round's passthrough.
    services: Sequence[RunResult]
    passthroughs: Sequence[RunResult]
    rounds: int = 1
    skipped: Sequence[str] = ()
    decision: str = ""
    decide_us: float | None = None
    decide_ratio: float | None = None
    decision_profile: Sequence[tuple[str, int, float, float]] = ()
    arguments: Sequence[str] = ()
    #: Rows of further targets (the stored run's over the run without).
    more_targets: Sequence[tuple[str, ...]] = field(default_factory=tuple)


def markdown(report: Report) -> str:
    """The report: the run, its results against the targets, where the time goes, and
    each round in full."""
    parts = [HEADER, "## Latest run", "", *_run_shown(report), "", "## Results", ""]
    parts += [f"**Not measured: {reason}.**\n" for reason in report.skipped]
    parts += [
        f"Medians over {report.rounds} round{'s' if report.rounds > 1 else ''}; each ratio "
        "is a service run's figure over the mean of the passthrough runs just before and after "
        "it; peak RSS in MiB of all its processes together (the parent's, then each other "
        "process's), in the round where they held the most:",
        "",
        markdown_table(
            summary_rows(report.services, report.passthroughs),
            columns=SUMMARY_COLUMNS,
            text_columns=1,
        ),
        "",
    ]
    targets = [
        *target_rows(report.services, report.passthroughs, report.decide_us, report.decide_ratio),
        *report.more_targets,
    ]
    if targets:
        parts += ["Against the targets, in this run (medians of the rounds' ratios):", ""]
        columns = ("target", "run", "goal", "this run", "")
        parts += [markdown_table(targets, columns=columns, text_columns=2), ""]
    parts += _bounds(report)
    parts += _decision(report)
    parts += _rounds(report)
    parts += _batches(report)
    notes = [note for run in (*report.services, *report.passthroughs) for note in run.notes]
    if notes:
        parts += ["", "## Checks that failed", ""]
        parts += [f"- {note}" for note in notes]
    parts += ["", figures_comment(report.services, report.passthroughs)]
    return "\n".join(parts) + "\n"


def _run_shown(report: Report) -> list[str]:
    host = report.host
    command = " ".join(("python -m bench.pipeline", *report.arguments))
    lines = [
        f"- Date: {report.started.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Runtime of `{command}`: {report.runtime_seconds:.0f} s, {report.rounds} "
        f"round{'s' if report.rounds > 1 else ''}",
        f"- Machine: {host['nproc']} CPUs available (nproc), {host['cpu']}; "
        f"Linux {host['kernel']}; load average before the run {host['load']}",
        f"- Software: Python {host['python']}, aiokafka {host['aiokafka']}, "
        f"asyncpg {host['asyncpg']}, broker {host['broker']}, code at `{host['commit']}`",
        "",
        "Settings (the same for every run; each store only for its service runs):",
        "",
    ]
    lines += [f"- `{name}`: {value}" for name, value in report.settings.items()]
    lines += ["", "Workload (each round):", ""]
    lines += [f"- {name}: {value}" for name, value in report.workload.items()]
    return lines


def _pooled(report: Report) -> tuple[list[RunResult], RunResult | None]:
    services = [pooled(rounds) for rounds in series(report.services).values()]
    return services, pooled(report.passthroughs) if report.passthroughs else None


def _bounds(report: Report) -> list[str]:
    services, passthrough = _pooled(report)
    if passthrough is None:
        return []
    parts: list[str] = []
    bounds = bound_rows(services, passthrough)
    if bounds:
        parts += [
            "What bounds the throughput (all rounds together): µs per command of each stage of"
            " the consume loop in the throughput phase (from the service's `/metrics`, summed"
            " over its workers), beside what a command took in all, what the passthrough spends"
            " on a whole record and what a command may take at each throughput target. Within"
            " one consume loop on SQLite the stages run one after another on one Python thread;"
            " on PostgreSQL a batch's write and publish overlap the next batch's load and"
            " decision; with N workers N loops run at once, so a command's wall time can be"
            " less than the sum of its stages. Below them, where the machine's CPU went while"
            " the backlog drained (`bench.cpu`, from /proc): the run's own processes, the"
            " benchmark's reader, the broker (the process listening on the bootstrap address)"
            " and the rest of the machine (a local PostgreSQL server, the kernel), per command,"
            " and the cores busy in all, beside the same for"
            " the passthrough: a run with no core to spare is bound by every process's CPU per"
            " command, not by its own stages alone:",
            "",
            markdown_table(bounds[1:], columns=bounds[0], text_columns=1),
            "",
        ]
    latency_bounds = latency_bound_rows(services, passthrough)
    if latency_bounds:
        parts += [
            "What bounds the latency (all rounds together): the mean time of each stage of a"
            " batch in the latency phase (from the service's `/metrics`) beside the p99s of"
            " all rounds' commands. At this rate a batch holds one or two commands, and the"
            " service adds to the passthrough's consume-and-produce a batch's load, decision"
            " and write (on SQLite with its fsync, on PostgreSQL a commit on the server), one"
            " after another; a command that arrives while a batch is under way also waits for"
            " the rest of it, which the share of the phase spent in batches measures:",
            "",
            markdown_table(latency_bounds[1:], columns=latency_bounds[0], text_columns=1),
            "",
        ]
    return parts


def _decision(report: Report) -> list[str]:
    parts: list[str] = []
    if report.decision:
        parts += [f"Reading and deciding, no Kafka and no store: {report.decision}.", ""]
    if report.decision_profile:
        parts += [
            "Where the pure decision's time goes (cProfile of one round, the functions with the"
            " most time of their own; the profiler inflates small Python functions):",
            "",
            markdown_table(
                [(where.replace("|", "\\|"), str(calls), f"{own:.3f}", f"{cum:.3f}")
                 for where, calls, own, cum in report.decision_profile],
                columns=("function", "calls", "own s", "cumulative s"),
                text_columns=1,
            ),
            "",
        ]  # fmt: skip
    return parts


def _rounds(report: Report) -> list[str]:
    """Each round's runs in full, folded."""
    parts = [
        "Each round (records/s counts every record sent, duplicates included, over the"
        " measured time (throughput: from the resume; latency: from the first send) to the"
        " last outcome read; send s is how long the benchmark took to send them (throughput:"
        " before the clock starts); out B is the mean size of an output record (key, value"
        " and headers; a service event carries the whole referral); the passthrough row pools"
        " the round's passthrough runs, and a ratio row divides a service run by it (the"
        " summary's ratios divide by the passthrough runs beside each service run)):",
        "",
    ]
    for index in sorted({run.round for run in report.passthroughs}):
        services = [run for run in report.services if run.round == index]
        passthrough = pooled([run for run in report.passthroughs if run.round == index])
        parts += [
            f"<details><summary>Round {index + 1}</summary>",
            "",
            markdown_table(rows(services, passthrough)),
            "",
            "</details>",
            "",
        ]
    return parts


def _batches(report: Report) -> list[str]:
    services, _ = _pooled(report)
    if not any(run.stats for run in services):
        return []
    parts = [
        "Service batches, from its `/metrics` (difference over each phase, the mean of the"
        " rounds; a batch is timed from the poll's return to its outcomes published; its"
        " offset commit, timed as commit, overlaps the next batch; with workers, the parent's"
        " `/metrics` sums theirs):",
        "",
    ]
    for run in services:
        parts += [f"- {run.name}: {note}" for note in run.notes_ok]
        for phase, stats in run.stats.items():
            shown = ", ".join(f"{name} {number_shown(value)}" for name, value in stats.items())
            parts.append(f"- {run.name}, {phase}: {shown}")
    return parts
