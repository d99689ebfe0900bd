"""CPU cost of reading and deciding a command, without Kafka or a store: the fast path
beside the models' path alone.

The benchmark's own command stream (bench/workload.py) is read as the consume loop reads
polled records (``read_record``: in the canonical form first, strictly otherwise), then
decided a batch at a time (``decide_batch``: dedupe, the state machine, the events and
rejections encoded for Kafka). What a batch writes is kept in a dict, and each batch is
given what a store would return for it (its referrals, which of its commands were
processed); the loaded referrals are the decided objects, so loading costs nothing here.
Rounds alternate between the service's way (the fast path first) and the models alone
(``fast_path=False``), so the two are compared at the same moment of a machine whose speed
drifts; CPU time is measured with ``time.process_time`` and the best round of each way is
reported, with the garbage collector tuned as the service tunes it (``service.runtime``).

Run: ``.venv/bin/python -m bench.decision [--referrals N] [--rounds N] [--profile]``.
"""

import argparse
import cProfile
import pstats
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.workload import Record, command_stream
from service.codec import WireLimits
from service.consume.decision import decide_batch, policy_of
from service.consume.records import Incoming, command_keys, read_record
from service.kafka import PolledRecord
from service.runtime import tune_garbage_collection
from service.settings import Settings
from state import CommandKey, ReferralKey

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DecisionCost:
    commands: int
    decode_us: float
    decide_us: float
    rounds: int = 1
    #: The share of the commands the fast path decided.
    fast_share: float = 0.0
    #: The same stream read and decided by the models alone, in rounds between these.
    models: "DecisionCost | None" = None

    @property
    def total_us(self) -> float:
        return self.decode_us + self.decide_us

    @property
    def over_models(self) -> float | None:
        """Read + decide over the models' alone, in the same run."""
        return self.total_us / self.models.total_us if self.models else None

    def describe(self) -> str:
        text = (
            f"{self.total_us:.1f} µs of CPU per command to read and decide ({self.decode_us:.1f}"
            f" to read the record, `read_record`; {self.decide_us:.1f} to decide,"
            f" `decide_batch`: dedupe, the machine, events and rejections encoded), the fast"
            f" path deciding {self.fast_share:.1%} of the {self.commands} commands of the bench"
            f" mix"
        )
        if self.models is not None:
            text += (
                f"; the models alone, in rounds between: {self.models.total_us:.1f} µs"
                f" ({self.models.decode_us:.1f} + {self.models.decide_us:.1f}), so"
                f" {self.over_models:.2f} of that"
            )
        return text + f" (`python -m bench.decision`, best of {self.rounds} rounds each)"


def _polled(stream: Sequence[Record]) -> list[PolledRecord]:
    return [
        PolledRecord("commands", 0, offset, 0, r.key, r.value, r.headers)
        for offset, r in enumerate(stream)
    ]


def one_round(
    polled: Sequence[PolledRecord],
    settings: Settings,
    batch_size: int,
    events: int | None = None,
    fast_path: bool = True,
) -> DecisionCost:
    """Decide every record a batch at a time; ``events``: how many must be applied (the
    workload says), so that a broken round cannot pass for a fast one."""
    limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
    policy = policy_of(settings)
    stored: dict[ReferralKey, Any] = {}
    seen: set[CommandKey] = set()
    decode = decide = 0.0
    applied = fast = 0
    for start in range(0, len(polled), batch_size):
        began = time.process_time()
        batch = polled[start : start + batch_size]
        incoming: list[Incoming] = [
            read_record(record, limits, fast_path=fast_path) for record in batch
        ]
        # What the store answers: which of the batch's commands it processed already.
        processed = {key for key in command_keys(incoming) if key in seen}
        decoded = time.process_time()
        decided = decide_batch(incoming, stored, processed, NOW, settings, policy)
        decide += time.process_time() - decoded
        decode += decoded - began
        applied += sum(1 for outcome in decided.outcomes if outcome.events)
        fast += decided.fast
        stored.update({w.record.key: w.record for w in decided.write.referrals})
        seen.update(CommandKey(p.tenant_id, p.command_id) for p in decided.write.processed)
    if events is not None and applied != events:
        raise AssertionError(f"{applied} commands applied, the workload expects {events}")
    per = 1e6 / len(polled)
    return DecisionCost(len(polled), decode * per, decide * per, fast_share=fast / len(polled))


def measure(referrals: int = 2000, rounds: int = 5, batch_size: int = 500) -> DecisionCost:
    """The cheapest of ``rounds`` runs of each way over the bench mix of ``referrals``
    referrals, the ways alternating."""
    stream = command_stream(20261201, referrals, "decide")
    polled, events = _polled(stream), sum(1 for record in stream if record.outcome == "event")
    settings = Settings()
    tune_garbage_collection()  # as the service runs
    fast: list[DecisionCost] = []
    models: list[DecisionCost] = []
    for _ in range(rounds):
        fast.append(one_round(polled, settings, batch_size, events))
        models.append(one_round(polled, settings, batch_size, events, fast_path=False))
    best = min(fast, key=lambda cost: cost.total_us)
    alone = min(models, key=lambda cost: cost.total_us)
    return DecisionCost(
        best.commands,
        best.decode_us,
        best.decide_us,
        rounds,
        best.fast_share,
        DecisionCost(alone.commands, alone.decode_us, alone.decide_us, rounds),
    )


def profile(referrals: int = 2000, top: int = 15) -> list[tuple[str, int, float, float]]:
    """Where one round's time goes: (function, calls, own seconds, cumulative seconds) of
    the ``top`` functions by own time, under cProfile (which inflates small functions)."""
    polled = _polled(command_stream(20261201, referrals, "decide"))
    profiler = cProfile.Profile()
    profiler.runcall(one_round, polled, Settings(), 500)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [
        (_where(file, line, name), calls, own, cumulative)
        for (file, line, name), (_, calls, own, cumulative, _) in stats.items()
    ]
    return sorted(rows, key=lambda row: row[2], reverse=True)[:top]


def _where(file: str, line: int, name: str) -> str:
    if file == "~":
        return name
    for root in ("/service/", "/state/", "/site-packages/", "/lib/python"):
        if root in file:
            file = root.strip("/") + "/" + file.split(root, 1)[1]
            break
    return f"{file}:{line}({name})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decision", description=__doc__)
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one round")
    args = parser.parse_args(argv)
    if args.profile:
        for where, calls, own, cumulative in profile(args.referrals, 30):
            print(f"{own:8.3f} {cumulative:8.3f} {calls:>8}  {where}")
        return 0
    print(measure(args.referrals, args.rounds).describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
