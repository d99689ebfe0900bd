"""The benchmark's account of where the machine's CPU went while a backlog drained, read
from /proc for real processes."""

import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from bench.cpu import (
    BENCHMARK,
    BROKER,
    REST,
    STEAL,
    UNDER_TEST,
    added,
    cpu_seconds,
    processes_given,
    snapshot,
    used_between,
)

#: Spins until it has used this much CPU, says so, then waits for its stdin to close.
_SPIN = (
    "import sys, time\n"
    "while time.process_time() < {seconds}: pass\n"
    "print('spun', flush=True)\n"
    "sys.stdin.read()\n"
)

#: Says it is up (its command line is readable in /proc from then on: exec sets it up after
#: Popen has returned), waits for a line on stdin, spins for this much CPU more, says so,
#: then waits for stdin to close.
_UP_THEN_SPIN = (
    "import sys, time\n"
    "print('up', flush=True)\n"
    "sys.stdin.readline()\n"
    "start = time.process_time()\n"
    "while time.process_time() - start < {seconds}: pass\n"
    "print('spun', flush=True)\n"
    "sys.stdin.read()\n"
)


def _spin_for(seconds: float) -> None:
    """Use ``seconds`` of this process's CPU."""
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_a_process_under_test_is_charged_the_cpu_it_used_and_the_benchmark_its_own() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _SPIN.format(seconds=0.4)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        before = snapshot(lambda: [child.pid])
        _spin_for(0.2)
        assert child.stdout is not None
        assert child.stdout.readline() == "spun\n"  # blocks until the child has spun
        used = used_between(before, snapshot(lambda: [child.pid]))
    finally:
        child.communicate(timeout=30)

    assert 0.3 <= used[UNDER_TEST] <= 0.4 + 0.1  # its startup before the first snapshot aside
    assert 0.15 <= used[BENCHMARK] <= 0.2 + 0.1  # /proc counts in ticks of 10 ms
    assert used[REST] >= 0.0
    assert used[STEAL] >= 0.0
    assert used["wall"] >= max(used[UNDER_TEST], used[BENCHMARK]) / 2  # two cores at most


def test_the_broker_is_found_by_its_listener_and_charged_apart_from_the_rest() -> None:
    listener = f"tcp://127.0.0.1:{os.getpid()}"
    broker = subprocess.Popen(
        [sys.executable, "-c", _UP_THEN_SPIN.format(seconds=0.3), "--listener-url", listener],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert broker.stdin is not None
        assert broker.stdout is not None
        assert broker.stdout.readline() == "up\n"
        found = processes_given(listener)
        before = snapshot(lambda: [], found)
        broker.stdin.write("go\n")  # it spins only once the first snapshot is taken
        broker.stdin.flush()
        assert broker.stdout.readline() == "spun\n"
        used = used_between(before, snapshot(lambda: [], found))
    finally:
        broker.communicate(timeout=30)

    assert found == [broker.pid]
    assert processes_given(listener + "0") == []  # a whole argument, not a prefix
    assert 0.2 <= used[BROKER] <= 0.3 + 0.1
    assert used[UNDER_TEST] == 0.0
    assert used[REST] >= 0.0


def test_a_process_gone_or_unknown_is_left_out() -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    assert finished.wait(timeout=30) == 0  # reaped: its /proc entry is gone

    assert cpu_seconds([finished.pid, 2**22 + 1]) == {}
    before = snapshot(lambda: [])
    used = used_between(before, snapshot(lambda: []))
    assert used[UNDER_TEST] == 0.0


def test_a_process_started_between_the_snapshots_counts_from_zero() -> None:
    before = snapshot(lambda: [])
    # Made from the first snapshot alone: the machine's other processes use no CPU between
    # them (a second real snapshot counted a tick of theirs under a parallel test run).
    later = replace(before, at=before.at + 2.0, under_test={4242: 0.5}, busy=before.busy + 1.0)

    used = used_between(before, later)

    assert used[UNDER_TEST] == pytest.approx(0.5)
    assert used[BENCHMARK] == 0.0
    assert used[REST] == pytest.approx(0.5)


def test_several_drains_add_up_by_role() -> None:
    total = added([{UNDER_TEST: 1.0, "wall": 2.0}, {UNDER_TEST: 0.5, REST: 0.25, "wall": 1.0}])

    assert total == {UNDER_TEST: 1.5, REST: 0.25, "wall": 3.0}
