"""The rounds of ``bench.stored_pairs`` feed the store they keep records it has not seen:
each round's referral and command ids are its own, the same for both runs of the round."""

from bench.measure import PhaseResult
from bench.options import parse, phase_streams
from bench.report_model import LATENCY, THROUGHPUT, WARMUP, RunResult
from bench.stored_pairs import pair_ratio
from bench.workload import Record


def _referral_ids(stream: list[Record]) -> set[bytes]:
    return {r.key for r in stream}  # the key is the referral id


def _command_ids(streams: dict[str, list[Record]]) -> set[str]:
    return {r.command_id for stream in streams.values() for r in stream}


def _apart(sets: list[set[str]] | list[set[bytes]]) -> bool:
    return all(not a & b for n, a in enumerate(sets) for b in sets[n + 1 :])


def test_each_round_has_ids_of_its_own() -> None:
    options = parse(["--referrals", "40", "--warmup-referrals", "5", "--no-write"])
    rounds = [phase_streams(options, (WARMUP, THROUGHPUT), n) for n in range(3)]
    for phase in (WARMUP, THROUGHPUT):
        referrals = [_referral_ids(streams[phase]) for streams in rounds]
        assert all(referrals)
        assert _apart(referrals)
    commands = [_command_ids(streams) for streams in rounds]
    assert _apart(commands)
    again = phase_streams(options, (WARMUP, THROUGHPUT), 1)
    assert _command_ids(again) == commands[1]  # both runs of a round get the same records


def test_make_bench_s_phases_come_in_its_order_an_empty_warm_up_left_out() -> None:
    options = parse(["--referrals", "20", "--latency-referrals", "5", "--no-write"])
    assert list(phase_streams(options)) == [WARMUP, THROUGHPUT, LATENCY]
    assert list(phase_streams(options, (LATENCY, WARMUP))) == [WARMUP, LATENCY]
    cold = parse(["--referrals", "20", "--warmup-referrals", "0", "--no-write"])
    assert list(phase_streams(cold)) == [THROUGHPUT, LATENCY]


def test_the_round_figure_is_the_large_store_over_the_empty_one() -> None:
    large, empty = RunResult("large"), RunResult("empty")
    large.phases[THROUGHPUT] = _phase(900, 1.0)
    empty.phases[THROUGHPUT] = _phase(1000, 1.0)
    assert round(pair_ratio(large, empty), 6) == 0.9


def _phase(records: int, seconds: float) -> PhaseResult:
    return PhaseResult(records, records, seconds, 0.0, [], {}, 0)
