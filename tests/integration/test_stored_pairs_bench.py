"""``bench.stored_pairs`` end to end on SQLite, small: the kept store is filled once and
takes every round's records (ids of the round's own), beside a new empty store each round."""

import pytest

from bench.stored_pairs import main


def test_two_rounds_on_a_kept_store_and_empty_ones(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--stored", "300", "--rounds", "2", "--referrals", "30", "--warmup-referrals", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "300 referrals stored, then left at rest" in out
    rounds = [line for line in out.splitlines() if line.startswith("round ")]
    assert len(rounds) == 2
    assert all("large" in line and "empty" in line for line in rounds)
    assert "300 stored over empty:" in out.splitlines()[-1]
