"""Reading a process tree from Linux's /proc: a parent's children, its worker processes, the
members of a process group, whether a process still lives."""

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")
#: The module a worker of ``referrals run`` runs as: ``python -m service.workers.worker INDEX ...``
WORKER_MODULE = "service.workers.worker"


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that are still its children (any of its threads')."""
    found: list[int] = []
    for task in PROC.glob(f"{pid}/task/*"):
        with contextlib.suppress(OSError):
            found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first); None when gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (or is stopped); a zombie has ended and counts as gone."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def group_members(group: int) -> list[int]:
    """The live processes of process group ``group``."""
    members = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == group and alive(int(entry.name)):
                members.append(int(entry.name))
    return members


def worker_pids(parent: int) -> dict[int, int]:
    """The live worker processes among ``parent``'s children, by worker index."""
    workers: dict[int, int] = {}
    for child in children(parent):
        try:
            argv = (PROC / str(child) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if WORKER_MODULE.encode() in argv and alive(child):
            workers[int(argv[argv.index(WORKER_MODULE.encode()) + 1])] = child
    return workers


async def until(holds: Callable[[], bool], what: str, within: float) -> None:
    """Poll ``holds`` until it is true; fail after ``within`` seconds, saying ``what``."""
    deadline = asyncio.get_running_loop().time() + within
    while not holds():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.02)
