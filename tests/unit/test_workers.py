"""The parts of ``referrals run --workers``: how many workers, their readiness reports, their
metrics summed in the parent, and the supervisor's restarts, stop and giving up (with real
child processes standing in for workers)."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.errors import WorkersFailing
from service.health import UNASSIGNED, Health
from service.workers.count import usable_cpus, worker_count
from service.workers.metrics import MULTIPROCESS_DIRECTORY, ParentMetrics
from service.workers.reports import (
    STALE_AFTER_SECONDS,
    report_path,
    whole_problems,
    write_report,
)
from service.workers.supervisor import GIVE_UP_AFTER, Supervisor


def test_configured_workers_are_taken_as_given() -> None:
    assert worker_count(3, partitions=1, cpus=1) == 3


@pytest.mark.parametrize(
    ("cpus", "partitions", "expected"), [(2, 4, 2), (8, 3, 3), (4, 0, 1), (1, 12, 1)]
)
def test_default_is_the_cpus_capped_by_the_partitions(
    cpus: int, partitions: int, expected: int
) -> None:
    assert worker_count(0, partitions, cpus) == expected


@pytest.mark.parametrize(
    ("cpu_max", "limit"), [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1)]
)
def test_a_container_cpu_quota_lowers_the_usable_cpus(
    tmp_path: Path, cpu_max: str, limit: int | None
) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max + "\n")
    affinity = len(os.sched_getaffinity(0))
    expected = affinity if limit is None else min(affinity, limit)
    assert usable_cpus(quota) == expected
    assert usable_cpus(tmp_path / "missing") == affinity


def _report(directory: Path, index: int, problems: list[str], pid: int) -> None:
    health = Health(
        stall_seconds=60, store_ok=True, broker_ok=True, assigned=UNASSIGNED not in problems
    )
    write_report(directory, index, health)
    path = report_path(directory, index)
    path.write_text(path.read_text().replace(f'"pid":{os.getpid()}', f'"pid":{pid}'))


def test_the_whole_is_ready_when_each_worker_reports_and_one_has_partitions(
    tmp_path: Path,
) -> None:
    _report(tmp_path, 0, [], pid=10)
    _report(tmp_path, 1, [UNASSIGNED], pid=11)
    assert whole_problems(tmp_path, [10, 11], time.time()) == []
    _report(tmp_path, 0, [UNASSIGNED], pid=10)
    assert whole_problems(tmp_path, [10, 11], time.time()) == [UNASSIGNED]


def test_a_worker_restarting_starting_or_silent_keeps_the_whole_unready(tmp_path: Path) -> None:
    _report(tmp_path, 0, [], pid=10)
    _report(tmp_path, 1, [], pid=11)
    assert whole_problems(tmp_path, [10, None], time.time()) == ["worker 1: restarting"]
    assert whole_problems(tmp_path, [10, 12], time.time()) == ["worker 1: starting"]
    later = time.time() + STALE_AFTER_SECONDS + 1
    assert [p.split(" for ")[0] for p in whole_problems(tmp_path, [10, 11], later)] == [
        "worker 0: not reporting",
        "worker 1: not reporting",
    ]


def test_a_workers_own_problem_is_named_with_the_worker(tmp_path: Path) -> None:
    health = Health(stall_seconds=60, store_ok=False, broker_ok=True, assigned=True)
    write_report(tmp_path, 0, health)
    assert whole_problems(tmp_path, [os.getpid()], time.time()) == ["worker 0: store unreachable"]


_WORKER_METRICS = """
import sys
from prometheus_client import CollectorRegistry
from service.metrics import Metrics
metrics = Metrics(CollectorRegistry(), store_backend="sqlite", counts_states=sys.argv[1] == "0")
metrics.decisions.labels("fast").inc(int(sys.argv[2]))
metrics.outbox_backlog.set(int(sys.argv[2]))
"""


def _worker_metrics(directory: Path, index: int, decisions: int) -> None:
    environment = {**os.environ, MULTIPROCESS_DIRECTORY: str(directory)}
    subprocess.run(
        [sys.executable, "-c", _WORKER_METRICS, str(index), str(decisions)],
        env=environment,
        check=True,
        timeout=60,
    )


def _samples(metrics: ParentMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_parent_sums_its_workers_counters_and_states_its_own_readiness(
    tmp_path: Path,
) -> None:
    _worker_metrics(tmp_path, 0, 3)
    _worker_metrics(tmp_path, 1, 4)  # and both processes have ended: their counts stay
    metrics = ParentMetrics(tmp_path, lambda: True, "sqlite")
    metrics.workers.set(2)
    samples = _samples(metrics)
    assert samples[("referrals_decisions_total", (("path", "fast"),))] == 7
    assert samples[("referrals_decisions_total", (("path", "models"),))] == 0
    assert samples[("referrals_outbox_backlog", ())] == 4  # the most recent worker's word
    assert samples[("referrals_ready", ())] == 1
    assert samples[("referrals_workers", ())] == 2
    build = [key for key in samples if key[0] == "referrals_build_info"]
    assert len(build) == 1  # the parent's, not one per worker
    states = [key for key in samples if key[0] == "referrals_current"]
    assert states  # started at zero by the worker that counts


def test_a_file_a_starting_worker_has_not_sized_yet_is_left_out_of_the_sum(
    tmp_path: Path,
) -> None:
    _worker_metrics(tmp_path, 0, 3)
    (tmp_path / "counter_4242.db").touch()  # a worker starting: created, not yet sized
    samples = _samples(ParentMetrics(tmp_path, lambda: True, "sqlite"))
    assert samples[("referrals_decisions_total", (("path", "fast"),))] == 3


async def _supervised(
    tmp_path: Path, script: str, ends: list[tuple[int, bool]], silent_for: float = 60
) -> Supervisor:
    return Supervisor(
        2,
        tmp_path,
        dict(os.environ),
        backoff_seconds=(0.01, 0.02),
        shutdown_seconds=5,
        on_end=lambda pid, restarting: ends.append((pid, restarting)),
        silent_for=silent_for,
        command=[sys.executable, "-c", script],
    )


async def test_workers_that_keep_ending_make_the_parent_give_up(tmp_path: Path) -> None:
    ends: list[tuple[int, bool]] = []
    supervisor = await _supervised(tmp_path, "import sys; sys.exit(3)", ends)
    stop = asyncio.Event()
    with pytest.raises(WorkersFailing, match="giving up"):
        await asyncio.wait_for(supervisor.run(stop), 60)
    assert stop.is_set()
    assert len(ends) >= GIVE_UP_AFTER
    assert supervisor.pids == [None, None]


_WAITS_FOR_TERM = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
open(sys.argv[3] + f"/started-{sys.argv[1]}", "a").write("x")
while True:
    time.sleep(1)
"""


async def _until(condition: Callable[[], bool]) -> None:
    """Poll a child process's state (nothing to await there), for at most 30 s."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "not within 30 s"
        await asyncio.sleep(0.02)


async def test_a_killed_worker_is_restarted_and_stop_ends_every_worker(tmp_path: Path) -> None:
    ends: list[tuple[int, bool]] = []
    supervisor = await _supervised(tmp_path, _WAITS_FOR_TERM, ends)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    await _until(lambda: all(supervisor.pids) and len(list(tmp_path.glob("started-*"))) == 2)
    killed = supervisor.pids[1]
    assert killed is not None
    os.kill(killed, 9)
    await _until(lambda: supervisor.pids[1] not in (None, killed))
    assert ends == [(killed, True)]
    stop.set()
    await asyncio.wait_for(running, 30)
    assert supervisor.pids == [None, None]
    assert sorted(restarting for _, restarting in ends) == [False, False, True]


async def test_a_worker_that_stops_reporting_is_killed_and_restarted(tmp_path: Path) -> None:
    ends: list[tuple[int, bool]] = []
    supervisor = await _supervised(tmp_path, _WAITS_FOR_TERM, ends, silent_for=1.5)
    stop = asyncio.Event()
    running = asyncio.create_task(supervisor.run(stop))
    try:
        await _until(lambda: all(supervisor.pids))
        first = list(supervisor.pids)
        await _until(lambda: len(ends) >= 2)  # neither stand-in ever reports
        assert all(restarting for _, restarting in ends)
        assert {pid for pid, _ in ends} == set(first)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
