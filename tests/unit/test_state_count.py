"""How often the referrals per state are counted: a count that takes long spaces the next."""

import pytest

from service.periodic import COUNT_SPACING, next_count_at


def test_a_quick_count_runs_again_after_the_interval() -> None:
    assert next_count_at(finished=100.0, took=0.01, interval=30.0) == 130.0


@pytest.mark.parametrize("took", [1.0, 2.5, 60.0])
def test_a_slow_count_waits_many_times_its_own_duration(took: float) -> None:
    """Whatever the interval, counting takes at most 1/COUNT_SPACING of the store's time."""
    due = next_count_at(finished=100.0, took=took, interval=30.0)
    assert due == 100.0 + COUNT_SPACING * took
    assert took / (due - 100.0 + took) <= 1 / COUNT_SPACING
