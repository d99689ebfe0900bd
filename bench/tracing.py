"""CPU cost of tracing per command: off (not configured) and on, beside the decision.

The bench mix (bench/workload.py), every record carrying a producer's ``traceparent``, is
read and decided a batch at a time as in bench/decision.py, twice: without any tracing
call (the baseline) and with tracing on (the SDK, a batch span processor and an exporter
that drops what it is given, so the export's own network cost is left out); CPU time with
``time.process_time``, the best of several interleaved rounds. Tracing that is not
configured (what every deployment without ``OTEL_*`` runs) costs far less than the noise
of such rounds, so the consume loop's calls on it are timed alone, per polled batch.

Run: ``.venv/bin/python -m bench.tracing [--referrals N] [--rounds N] [--output FILE]``;
``make bench`` runs it after the pipeline benchmark and adds its section to
docs/benchmarks.md.
"""

import argparse
import time
import timeit
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.decision import NOW, _polled
from bench.workload import command_stream
from service.codec import WireLimits
from service.consume.decision import decide_batch, policy_of
from service.consume.records import Incoming, command_keys, read_record
from service.consume.tracing import NO_TRACING, Tracing
from service.kafka import PolledRecord
from service.settings import Settings
from state import CommandKey, ReferralKey

SECTION = "## Tracing cost"
PARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class _Dropped(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


@dataclass(frozen=True, slots=True)
class TracingCost:
    commands: int
    baseline_us: float
    on_us: float
    off_ns_per_batch: float

    def describe(self) -> str:
        return (
            f"reading and deciding takes {self.baseline_us:.1f} µs of CPU per command;"
            f" tracing not configured adds {self.off_ns_per_batch:.0f} ns per polled batch;"
            f" tracing on adds {self.on_us - self.baseline_us:.1f} µs per command (a span per"
            " command and three per batch, the context on every outcome; export excluded),"
            f" over {self.commands} commands (`python -m bench.tracing`)"
        )


def _loop_calls_when_off(incoming: list[Incoming]) -> None:
    """What the consume loop calls on tracing per polled batch."""
    with NO_TRACING.batch(len(incoming)):
        NO_TRACING.follow(incoming)
        with NO_TRACING.span("referrals store write", 0):
            pass
        with NO_TRACING.span("referrals publish", 0):
            pass


def one_round(polled: Sequence[PolledRecord], tracing: Tracing | None, batch_size: int) -> float:
    """CPU seconds of reading and deciding the records, with the loop's tracing calls
    when ``tracing`` is given."""
    settings = Settings()
    limits = WireLimits(settings.max_command_bytes, settings.max_attribute_length)
    policy = policy_of(settings)
    stored: dict[ReferralKey, Any] = {}
    seen: set[CommandKey] = set()
    began = time.process_time()
    for start in range(0, len(polled), batch_size):
        batch = polled[start : start + batch_size]
        if tracing is None:
            incoming = [read_record(record, limits) for record in batch]
            processed = {key for key in command_keys(incoming) if key in seen}
            decided = decide_batch(incoming, stored, processed, NOW, settings, policy)
        else:
            with tracing.batch(len(batch)):
                incoming = tracing.follow([read_record(record, limits) for record in batch])
                processed = {key for key in command_keys(incoming) if key in seen}
                decided = decide_batch(incoming, stored, processed, NOW, settings, policy)
                with tracing.span("referrals store write", len(decided.write.outbox)):
                    pass
                with tracing.span("referrals publish", len(decided.write.outbox)):
                    pass
        stored.update({w.record.key: w.record for w in decided.write.referrals})
        seen.update(CommandKey(p.tenant_id, p.command_id) for p in decided.write.processed)
    return time.process_time() - began


def measure(referrals: int = 2000, rounds: int = 5, batch_size: int = 500) -> TracingCost:
    polled = [
        replace(record, headers=(*(record.headers or ()), ("traceparent", PARENT)))
        for record in _polled(command_stream(20261201, referrals, "trace"))
    ]
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Dropped()))
    on = Tracing(provider, "bench")
    try:
        best: dict[str, float] = {}
        for _ in range(rounds):  # interleaved, so a busy moment hits both alike
            for name, tracing in (("baseline", None), ("on", on)):
                spent = one_round(polled, tracing, batch_size)
                best[name] = min(best.get(name, spent), spent)
    finally:
        on.shutdown()
    incoming = [read_record(record, WireLimits()) for record in polled[:batch_size]]
    calls = 100_000
    off = min(timeit.repeat(lambda: _loop_calls_when_off(incoming), number=calls, repeat=5))
    per = 1e6 / len(polled)
    return TracingCost(len(polled), best["baseline"] * per, best["on"] * per, off / calls * 1e9)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing", description=__doc__)
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, help="replace this report's tracing section")
    args = parser.parse_args(argv)
    cost = measure(args.referrals, args.rounds)
    print(cost.describe())
    if args.output is not None:
        report = args.output.read_text() if args.output.exists() else ""
        kept = report.split(SECTION, 1)[0].rstrip("\n")
        line = cost.describe()
        args.output.write_text(f"{kept}\n\n{SECTION}\n\n{line[0].upper()}{line[1:]}.\n".lstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
