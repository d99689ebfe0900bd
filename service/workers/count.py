"""How many worker processes ``referrals run`` starts when the settings leave it open.

A worker is one Python thread deciding, so more workers than usable CPUs only compete for
them; more workers than partitions leaves some with nothing to consume.
"""

import math
import os
from pathlib import Path

#: Where cgroup v2 states the CPU quota of the container (``max`` when unlimited).
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cgroup_cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on, lowered to the container's CPU quota if it has one
    (a Kubernetes CPU limit), rounded up; at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    try:
        limit = math.ceil(int(quota) / int(period))
    except (ValueError, ZeroDivisionError):
        return cpus
    return max(1, min(cpus, limit))


def worker_count(configured: int, partitions: int, cpus: int | None = None) -> int:
    """``configured`` when given (not 0), else the usable CPUs capped by ``partitions`` (the
    most partitions of any topic commands are consumed from); at least 1."""
    if configured > 0:
        return configured
    return max(1, min(cpus if cpus is not None else usable_cpus(), max(partitions, 1)))
