"""One ``/metrics`` for the parent and its workers.

Workers run with ``PROMETHEUS_MULTIPROC_DIR`` set, so prometheus-client keeps their series in
files there (one per process and kind); the parent sums them as its exposition is asked
for: counters and histograms add up over the workers, including those that died and were
restarted (their files stay, so no count goes backwards), and each gauge combines as its
``multiprocess_mode`` in ``service.metrics`` says. The parent adds what only it knows: its own
process and the workers' readiness, build and restarts. Series of the workers' own processes
(``process_*``, ``python_gc_*``) are not kept in files and are the parent's alone.
"""

import glob
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from service.metrics import process_series

#: The variable that switches prometheus-client to multiprocess mode in a worker; it must be
#: set before the worker imports prometheus-client, so it is set in the worker's environment.
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
#: Families the parent states itself: a worker's own view of them is not the whole's.
PARENTS_OWN = frozenset({"referrals_ready", "referrals_build_info"})


class WorkersCollector:
    """The workers' series, summed, without the families the parent states itself."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        files = [f for f in glob.glob(os.path.join(self.directory, "*.db")) if _sized(f)]
        merged: Iterable[Metric] = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        return [family for family in merged if family.name not in PARENTS_OWN]


def _sized(path: str) -> bool:
    """Whether a worker's file can be read: a worker starting creates it empty and sizes it
    a moment later (a scrape in between would fail); once sized, it stays so."""
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:  # a live gauge's file, removed as its worker ended
        return False


class ParentMetrics:
    """The parent's registry: its own series and the workers' summed."""

    def __init__(self, directory: Path, ready: Callable[[], bool], store_backend: str) -> None:
        self.directory = directory
        self.registry = registry = CollectorRegistry()
        process_series(registry, store_backend)
        Gauge(
            "referrals_ready",
            "1 when the service is ready: every worker reports in and is ready (partitions"
            " assigned to at least one), store and broker reachable.",
            registry=registry,
        ).set_function(lambda: 1.0 if ready() else 0.0)
        self.workers = Gauge(
            "referrals_workers", "Worker processes the parent keeps running.", registry=registry
        )
        self.restarts = Counter(
            "referrals_worker_restarts",
            "Worker processes restarted after they ended without being asked to.",
            registry=registry,
        )
        registry.register(WorkersCollector(directory))

    def worker_ended(self, pid: int) -> None:
        """Drop the live-only gauges of a worker that ended (its counters stay summed)."""
        mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]
