"""What readiness is made of."""

import time

from service.health import Health


def healthy(stall_seconds: float = 60.0) -> Health:
    return Health(stall_seconds=stall_seconds, store_ok=True, broker_ok=True, assigned=True)


def test_ready_when_assigned_and_both_dependencies_answer() -> None:
    assert healthy().ready
    assert healthy().problems() == []


def test_each_missing_condition_is_named() -> None:
    health = Health(stall_seconds=60.0)
    health.retrying = "store"

    assert health.problems() == [
        "store unreachable",
        "broker unreachable",
        "retrying a batch: store failing",
        "no partitions assigned",
    ]


def test_lag_without_progress_for_the_stall_window_is_not_ready() -> None:
    health = healthy(stall_seconds=30.0)
    health.lag = 12
    health.last_progress = time.monotonic() - 31

    assert not health.ready
    assert health.problems() == ["stalled: lag 12 without progress"]
    health.progressed()
    assert health.ready


def test_an_idle_consumer_without_lag_is_not_stalled() -> None:
    health = healthy(stall_seconds=30.0)
    health.last_progress = time.monotonic() - 3600

    assert health.ready
