"""``bench.latency`` end to end on SQLite, small: each run of a round is fed the warm-up and
the latency phase, and with ``--after-backlog`` drains make bench's backlog on the same
store between them."""

import re

import pytest

from bench.latency import main

_SMALL = ["--store", "sqlite", "--rounds", "1", "--warmup-referrals", "3"]


def _phases(err: str, name: str) -> list[str]:
    """The phases run by ``name``, in the order they ran (``name … r1 <phase> …``)."""
    lines = [line for line in err.splitlines() if line.strip().startswith(name)]
    return [found.group(1) for line in lines if (found := re.search(r" r\d+ (\S+) ", line))]


@pytest.mark.parametrize("after_backlog", [False, True])
def test_the_latency_phase_runs_after_the_backlog_when_asked(
    after_backlog: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*_SMALL, "--referrals", "40", "--latency-referrals", "10"]
    assert main([*argv, "--after-backlog"] if after_backlog else argv) == 0
    captured = capsys.readouterr()

    expected = ["warm-up", "throughput", "latency"] if after_backlog else ["warm-up", "latency"]
    assert _phases(captured.err, "service (SQLite") == expected
    assert _phases(captured.err, "passthrough") == expected
    assert "p99 / passthrough's:" in captured.out.splitlines()[-1]
