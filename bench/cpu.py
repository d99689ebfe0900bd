"""Where the machine's CPU went while a backlog drained: the process under test, the
benchmark's own process (its reader), the broker, and the rest of the machine (a local
PostgreSQL server, the kernel's work), with what the hypervisor took (steal).

On a machine whose few cores the broker and the benchmark share with the service, a
throughput ratio says little without this: a run either had cores to spare, and the
service's own path bounds it, or it had none, and every process's CPU per command does.
Read from /proc (Linux): a process's user and system time (``/proc/PID/stat``, every
thread of it), and the machine's in ``/proc/stat``.
"""

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
#: The roles of a drain's CPU, in the order a report shows them.
UNDER_TEST, BENCHMARK, BROKER = "under test", "benchmark", "broker"
REST, STEAL = "rest", "steal"
#: /proc/stat's cpu line: user nice system idle iowait irq softirq steal (guest time is in
#: user already).
_BUSY_FIELDS, _STEAL_FIELD = (0, 1, 2, 5, 6), 7


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User plus system CPU seconds so far of each live process of ``pids``."""
    seconds: dict[int, float] = {}
    for pid in pids:
        try:
            fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        seconds[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return seconds


def processes_given(argument: str) -> list[int]:
    """The live processes with ``argument`` among their command line's arguments (the
    broker: its listener URL, which names its port)."""
    wanted, found = argument.encode(), []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if wanted in arguments:
            found.append(int(entry.name))
    return found


def _machine_seconds() -> tuple[float, float]:
    """Busy and stolen CPU seconds of the whole machine so far."""
    try:
        first = (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0, 0.0
    ticks = [int(value) for value in first]
    return sum(ticks[i] for i in _BUSY_FIELDS) / TICKS, ticks[_STEAL_FIELD] / TICKS


@dataclass(frozen=True)
class CpuSnapshot:
    at: float
    under_test: dict[int, float]
    benchmark: float
    busy: float
    steal: float
    broker: dict[int, float] = field(default_factory=dict)


def snapshot(under_test: Callable[[], Iterable[int]], broker: Iterable[int] = ()) -> CpuSnapshot:
    """The CPU so far of the processes under test (``under_test()``: their pids), of this
    process, of the broker's processes and of the machine."""
    busy, steal = _machine_seconds()
    own = cpu_seconds([os.getpid()]).get(os.getpid(), 0.0)
    tested, serving = cpu_seconds(under_test()), cpu_seconds(broker)
    return CpuSnapshot(time.monotonic(), tested, own, busy, steal, serving)


def used_between(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU seconds by role between two snapshots, and the wall seconds between them
    (``wall``). A process under test counts from its first snapshot it appears in (one
    started meanwhile, from zero)."""
    tested = used_seconds(before.under_test, after.under_test)
    serving = used_seconds(before.broker, after.broker)
    own = after.benchmark - before.benchmark
    busy = after.busy - before.busy
    return {
        UNDER_TEST: tested,
        BENCHMARK: own,
        BROKER: serving,
        REST: max(busy - tested - own - serving, 0.0),
        STEAL: after.steal - before.steal,
        "wall": after.at - before.at,
    }


def used_seconds(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds the processes of ``after`` used since ``before`` (``cpu_seconds`` of
    each); one not in ``before`` counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def added(uses: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Several drains' CPU by role, added up."""
    total: dict[str, float] = {}
    for use in uses:
        for role, seconds in use.items():
            total[role] = total.get(role, 0.0) + seconds
    return total
