"""The processes of a child's process group, and their peak resident memory.

The service under ``referrals run`` with several workers is a tree: a parent (the HTTP
port, the read API) and worker processes it starts, which it may restart. The benchmark
starts it in a session of its own, so every process of the tree is in the process group
whose id is the parent's pid, and reads them from /proc.
"""

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


def group_members(pgid: int) -> list[int]:
    """The pids of the live processes of process group ``pgid``, sorted."""
    members = []
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        try:
            stat = (PROC / entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return sorted(members)


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident memory so far (VmHWM), in KiB; None when unknown."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


@dataclass
class TreeMemory:
    """Peak resident memory of a process tree, as sampled: each process's VmHWM, and the
    most that the processes alive at one sample held together (the sum of their VmHWM)."""

    root: int
    #: pid -> the highest VmHWM seen, KiB; a restarted worker is a new pid.
    peaks: dict[int, int] = field(default_factory=dict)
    tree_kib: int = 0

    def sample(self) -> None:
        alive = {}
        for pid in group_members(self.root):
            kib = peak_rss_kib(pid)
            if kib:  # a kernel thread or a process gone meanwhile has none
                alive[pid] = kib
        for pid, kib in alive.items():
            self.peaks[pid] = max(self.peaks.get(pid, 0), kib)
        self.tree_kib = max(self.tree_kib, sum(alive.values()))

    def parent_mib(self) -> float | None:
        kib = self.peaks.get(self.root)
        return kib / 1024 if kib is not None else None

    def others_mib(self) -> list[float]:
        """The peaks of the processes other than the root (the workers and any helper
        process), largest first."""
        return sorted((kib / 1024 for pid, kib in self.peaks.items() if pid != self.root),
                      reverse=True)  # fmt: skip

    @property
    def tree_mib(self) -> float:
        return self.tree_kib / 1024


class Sampler:
    """Samples a ``TreeMemory`` every ``interval`` seconds on a thread until stopped."""

    def __init__(self, memory: TreeMemory, interval: float = 0.5) -> None:
        self.memory = memory
        self._interval = interval
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sample(self) -> None:
        with self._lock:
            self.memory.sample()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.sample()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(10)
