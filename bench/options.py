"""The options of ``python -m bench.pipeline``."""

import argparse
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.postgres import ADMIN_URL_VARIABLE, DEFAULT_ADMIN_URL, admin_url
from bench.report_model import LATENCY, THROUGHPUT, WARMUP
from bench.rounds import DEFAULT_SET, parse_workers
from bench.workload import Record, command_stream
from service.settings import EventMode, Settings

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


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


def phase_streams(
    options: Options,
    phases: Collection[str] = (WARMUP, THROUGHPUT, LATENCY),
    round_: int | None = None,
) -> dict[str, list[Record]]:
    """The records ``make bench`` feeds each of ``phases``, in its order (an empty warm-up
    left out); with ``round_``, that round's own seed and ids, for a store kept between
    rounds that must never see a referral twice."""
    seed = options.seed if round_ is None else options.seed + 7919 * round_
    tag = "" if round_ is None else str(round_)
    streams = {
        WARMUP: lambda: command_stream(seed - 1, options.warmup_referrals, f"warm{tag}"),
        THROUGHPUT: lambda: command_stream(
            seed, options.referrals, f"tput{tag}", options.in_flight
        ),
        LATENCY: lambda: command_stream(
            seed + 1, options.latency_referrals, f"lat{tag}", options.in_flight
        ),
    }
    made = {phase: make() for phase, make in streams.items() if phase in phases}
    if not made.get(WARMUP, True):
        del made[WARMUP]
    return made
