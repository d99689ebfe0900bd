"""Each worker's readiness, told to the parent through a small file per worker.

A worker rewrites its file every ``REPORT_EVERY_SECONDS`` (atomically: written aside, then
renamed), with its process id and what keeps it from being ready. The parent reads the files
when ``/readyz`` is asked: a file older than ``STALE_AFTER_SECONDS`` (a worker frozen,
hung or gone) counts as a problem, so readiness never rests on a worker's last word.
"""

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from service.health import UNASSIGNED, Health

REPORT_EVERY_SECONDS = 1.0
STALE_AFTER_SECONDS = 5.0
#: A worker without partitions reports ``UNASSIGNED``; the whole is short of them only when
#: every worker is (a group may have more members than partitions while it rebalances).


def report_path(directory: Path, index: int) -> Path:
    return directory / f"worker-{index}.json"


@dataclass(frozen=True, slots=True)
class WorkerReport:
    pid: int
    problems: list[str]
    written: float  # wall-clock seconds

    def stale(self, now: float) -> bool:
        return now - self.written > STALE_AFTER_SECONDS


def write_report(directory: Path, index: int, health: Health) -> None:
    path = report_path(directory, index)
    aside = path.with_suffix(".tmp")
    body = {"pid": os.getpid(), "problems": health.problems(), "written": time.time()}
    aside.write_bytes(orjson.dumps(body))
    aside.replace(path)


async def keep_reporting(directory: Path, index: int, health: Health) -> None:
    """Write the worker's report now and then every ``REPORT_EVERY_SECONDS``, until cancelled."""
    while True:
        with contextlib.suppress(OSError):  # a full disk must not end the worker
            write_report(directory, index, health)
        await asyncio.sleep(REPORT_EVERY_SECONDS)  # a schedule, not a synchronisation


def read_report(directory: Path, index: int) -> WorkerReport | None:
    """The worker's last report; None when it has written none (or none readable)."""
    try:
        body = orjson.loads(report_path(directory, index).read_bytes())
        return WorkerReport(int(body["pid"]), [str(p) for p in body["problems"]], body["written"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


async def until_silent(directory: Path, index: int, pid: int, silent_for: float) -> None:
    """Return once worker ``index`` (process ``pid``) has written no new report for
    ``silent_for`` seconds of this process's own running time: a stretch in which this
    process itself did not run (the whole tree frozen, then thawed) counts as heard from."""
    last_written: float | None = None
    heard_at = ticked = time.monotonic()
    while True:
        await asyncio.sleep(REPORT_EVERY_SECONDS)  # a schedule: the files are polled
        now = time.monotonic()
        if now - ticked > 3 * REPORT_EVERY_SECONDS:
            heard_at = now  # this process was not running: the worker had no chance either
        ticked = now
        report = read_report(directory, index)
        if report is not None and report.pid == pid and report.written != last_written:
            last_written, heard_at = report.written, now
        if now - heard_at > silent_for:
            return


def whole_problems(directory: Path, pids: list[int | None], now: float) -> list[str]:
    """What keeps the workers, taken together, from being ready: ``pids`` holds each worker's
    process id (None while it is being restarted)."""
    problems: list[str] = []
    unassigned = 0
    for index, pid in enumerate(pids):
        report = read_report(directory, index)
        if pid is None:
            problems.append(f"worker {index}: restarting")
        elif report is None or report.pid != pid:
            problems.append(f"worker {index}: starting")
        elif report.stale(now):
            problems.append(f"worker {index}: not reporting for {now - report.written:.0f} s")
        else:
            unassigned += UNASSIGNED in report.problems
            problems.extend(f"worker {index}: {p}" for p in report.problems if p != UNASSIGNED)
    if pids and unassigned == len(pids):
        problems.append(UNASSIGNED)
    return problems
