"""The latency phase alone, in alternating rounds: ``python -m bench.latency
[--store sqlite|postgresql] [--workers N] [--rounds N] [--tree PATH ...]``.

Each round runs, on one broker, the service for every code tree given (``--tree``, a
checkout whose ``service`` package the child runs; default this one) on a fresh store (a
SQLite file, or a fresh PostgreSQL database), then the passthrough, each fed the warm-up
and the latency phase of ``make bench`` (``bench.pipeline``'s functions, its options'
defaults). The order of the trees alternates from round to round; each round's p99s are
divided by that round's passthrough p99, and the mean time of each stage of a batch is
shown beside them. A latency change is judged here, on several rounds, rather than on one
``make bench``: at 200 commands/s the p99 moves by a third from one minute to the next.

``--floor`` adds, each round, the passthrough storing each batch in the store first
(``bench.passthrough --stored-first``: one durable write a batch, then the sends): the
latency no design that stores a batch's changes before their events go can go below here.
On PostgreSQL it adds the same with the service's four round trips a batch made of trivial
statements (``--round-trips 4``): what the pattern costs before any of the service's work.

``--after-backlog`` drains ``make bench``'s backlog (its throughput phase, ``--referrals``)
on each run's store before the latency phase, as ``make bench`` does: the latency phase then
meets tables a backlog filled, not those the warm-up alone left (a plan PostgreSQL kept
from a new database's empty tables showed only there).
"""

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.options import phase_streams
from bench.pipeline import Options, parse, run_passthrough, run_service
from bench.postgres import probe
from bench.report_model import LATENCY, THROUGHPUT, WARMUP
from bench.rounds import ServiceRun
from bench.scrape import stage_means
from bench.stores import STORES, new_store
from bench.workload import Record
from service.broker import EmbeddedBroker

_HERE = Path(__file__).resolve().parent.parent


def _arguments(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--store", choices=sorted(STORES), default="postgresql")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1: the stages of one consume loop, not two sharing"
        " the cores)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tree", action="append", type=Path, help="a checkout to run the service from"
    )
    parser.add_argument(
        "--after-backlog",
        action="store_true",
        help="drain make bench's backlog on each run's store before the latency phase",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="each round, also the passthrough with one durable write a batch in the store",
    )
    return parser.parse_known_args(argv)


def _service_from(tree: Path) -> None:
    """Children started from now on run ``tree``'s code (``-m`` puts the cwd first)."""
    os.chdir(tree)
    os.environ["PYTHONPATH"] = str(tree)


def _one(
    label: str,
    run: ServiceRun,
    tree: Path,
    bootstrap: str,
    workdir: Path,
    streams: dict,
    options: Options,
) -> dict[str, float]:
    _service_from(tree)
    with new_store(run.store, workdir, f"service-{os.urandom(4).hex()}", options) as url:
        result, _ = run_service(bootstrap, workdir, streams, options, run, 0, url)
    shown = {"p50": result.phases[LATENCY].percentile_ms(50)}
    shown["p99"] = result.phases[LATENCY].percentile_ms(99)
    shown.update(stage_means(result.stats.get(LATENCY, {})))
    for note in result.notes:
        print(f"  NOTE {label}: {note}", file=sys.stderr)
    return shown


#: The passthroughs storing first, by name: their round trips a batch.
FLOORS = {"stored first (the floor)": 1, "stored first, 4 round trips": 4}


def _floor(
    store: str,
    round_trips: int,
    bootstrap: str,
    workdir: Path,
    streams: dict[str, list[Record]],
    options: Options,
) -> float:
    """The latency phase's p99 of the passthrough storing each batch first."""
    with new_store(store, workdir, f"floor-{os.urandom(4).hex()}", options) as url:
        passed = run_passthrough(
            bootstrap, workdir, streams, options, stored_first=url, round_trips=round_trips
        )
    return passed.phases[LATENCY].percentile_ms(99)


def main(argv: Sequence[str] | None = None) -> int:
    args, rest = _arguments(argv)
    options = parse([*rest, "--no-write"])
    trees = [tree.resolve() for tree in args.tree or [_HERE]]
    if args.workers < 1:
        raise SystemExit("--workers must be positive")
    run = ServiceRun(STORES[args.store], args.workers, args.workers)
    if args.store == "postgresql":
        assert options.postgres_url is not None, "the PostgreSQL run needs a server"
        probe(options.postgres_url)
    phases = (WARMUP, THROUGHPUT, LATENCY) if args.after_backlog else (WARMUP, LATENCY)
    streams = phase_streams(options, phases)
    ratios: dict[str, list[float]] = {str(tree): [] for tree in trees}
    floors = dict(FLOORS) if args.floor else {}
    if run.store == "SQLite":  # a file of this process: no round trips to a server to count
        floors = {name: trips for name, trips in floors.items() if trips == 1}
    ratios.update({name: [] for name in floors})
    with tempfile.TemporaryDirectory(prefix="referrals-latency-") as temporary:
        workdir = Path(temporary)
        broker = EmbeddedBroker(log_path=workdir / "tansu.log")
        try:
            broker.start()
            for round_ in range(args.rounds):
                order = trees if round_ % 2 == 0 else trees[::-1]
                shown = {
                    str(tree): _one(str(tree), run, tree, broker.bootstrap_servers,
                                    workdir, streams, options)
                    for tree in order
                }  # fmt: skip
                _service_from(_HERE)
                passed = run_passthrough(broker.bootstrap_servers, workdir, streams, options)
                base = passed.phases[LATENCY].percentile_ms(99)
                print(f"round {round_ + 1}: passthrough p99 {base:.1f} ms", flush=True)
                for tree, figures in shown.items():
                    ratios[tree].append(figures["p99"] / base)
                    stages = " ".join(f"{name} {value:.2f}" for name, value in figures.items())
                    print(f"  {tree}: x{figures['p99'] / base:.2f}  {stages}", flush=True)
                for name, trips in floors.items():
                    floor = _floor(
                        run.store, trips, broker.bootstrap_servers, workdir, streams, options
                    )
                    ratios[name].append(floor / base)
                    print(f"  {name}: x{floor / base:.2f}  p99 {floor:.2f}", flush=True)
        finally:
            broker.stop()
    for tree, values in ratios.items():
        listed = ", ".join(f"{value:.2f}" for value in values)
        print(f"{tree}: p99 / passthrough's: {listed} (median {statistics.median(values):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
