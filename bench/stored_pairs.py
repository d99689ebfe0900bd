"""A large store against an empty one, in the same rounds: ``python -m bench.stored_pairs
[--store sqlite|postgresql] [--workers N] [--stored N] [--rounds N] [--referrals N]``.

``bench.pipeline --stored`` holds a run with a million referrals stored to a report made at
another time, and this machine's speed moves more than the store's size does between two
runs minutes apart. Here one store is filled once (``bench.preload``: ``--stored``
referrals, then left at rest) and kept; each round then runs the service on it and on an
empty store (the order alternating), then the passthrough, all on one broker and fed the
same records (the round's own, so that the kept store never sees a referral twice). Before
each round after the first the kept store is put at rest again (``bench.preload.at_rest``),
as autovacuum and the checkpointer leave a store between one burst and the next: the empty
store starts every round new, and without that the kept one carried every earlier round's
dead outbox rows into the next where autovacuum is off (this machine's PostgreSQL). Each
round's figure is the throughput on the large store over the throughput on the empty one;
the median of the rounds is what the "flat to 1,000,000 stored" target is held to (≥ 0.9).
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from pathlib import Path

from bench.options import phase_streams
from bench.pipeline import parse, run_passthrough, run_service
from bench.postgres import probe
from bench.preload import at_rest, run_preload
from bench.report_model import THROUGHPUT, WARMUP, RunResult
from bench.rounds import ServiceRun
from bench.scrape import stage_means
from bench.stores import STORES, new_store
from service.broker import EmbeddedBroker

#: The flat target: the large store's throughput over the empty one's, at the median.
FLAT = 0.9


def _arguments(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m bench.stored_pairs", description=__doc__)
    parser.add_argument("--store", choices=sorted(STORES), default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_known_args(argv)


def _stages(result: RunResult) -> str:
    """The mean time of each stage of a batch in the throughput phase (the service's own
    histograms), to say where a difference went."""
    means = stage_means(result.stats.get(THROUGHPUT, {}))
    per_batch = means.pop("per batch")
    shown = " ".join(f"{name} {value:.2f}" for name, value in means.items())
    return f"{shown} ms; {per_batch:.0f} a batch"


def pair_ratio(stored: RunResult, empty: RunResult) -> float:
    """The round's figure: throughput on the large store over that on the empty one."""
    return stored.phases[THROUGHPUT].per_second / empty.phases[THROUGHPUT].per_second


def main(argv: Sequence[str] | None = None) -> int:
    args, rest = _arguments(argv)
    options = parse([*rest, "--no-write"])
    run = ServiceRun(STORES[args.store], args.workers, args.workers)
    if run.store == "PostgreSQL":
        assert options.postgres_url is not None, "the PostgreSQL run needs a server"
        probe(options.postgres_url)
    ratios: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="referrals-stored-pairs-") as temporary,
        ExitStack() as kept,
    ):
        workdir = Path(temporary)
        large = kept.enter_context(new_store(run.store, workdir, "large", options))
        took = run_preload(large, args.stored)
        print(f"{args.stored:,} referrals stored, then left at rest ({took:.0f} s)", flush=True)
        broker = kept.enter_context(EmbeddedBroker(log_path=workdir / "tansu.log"))
        for round_ in range(args.rounds):
            if round_:
                asyncio.run(at_rest(large))
            streams = phase_streams(options, (WARMUP, THROUGHPUT), round_)
            order = ("large", "empty") if round_ % 2 == 0 else ("empty", "large")
            results: dict[str, RunResult] = {}
            for which in order:
                kept_or_new = (
                    nullcontext(large)
                    if which == "large"
                    else new_store(run.store, workdir, f"empty-{round_}", options)
                )
                with kept_or_new as url:
                    results[which], _ = run_service(
                        broker.bootstrap_servers, workdir, streams, options, run, round_, url
                    )
            passed = run_passthrough(broker.bootstrap_servers, workdir, streams, options, round_)
            ratios.append(pair_ratio(results["large"], results["empty"]))
            shown = {name: result.phases[THROUGHPUT].per_second for name, result in results.items()}
            base = passed.phases[THROUGHPUT].per_second
            print(
                f"round {round_ + 1}: large {shown['large']:,.0f} cmd/s, empty"
                f" {shown['empty']:,.0f} (passthrough {base:,.0f} records/s):"
                f" {ratios[-1]:.2f}",
                flush=True,
            )
            for which in ("large", "empty"):
                print(f"  {which}: {_stages(results[which])}", flush=True)
            for result in (*results.values(), passed):
                for note in result.notes:
                    print(f"  NOTE {result.name}: {note}", file=sys.stderr)
    median = statistics.median(ratios)
    listed = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    verdict = "met" if median >= FLAT else "not met"
    print(
        f"{run.name}, {args.stored:,} stored over empty: {listed} (median {median:.2f};"
        f" target ≥ {FLAT}: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
