"""``referrals run`` with several workers: the parent's part.

The parent opens the store once (migrating it when the settings say so), serves the read
API and the one HTTP port for the whole, makes the topics, and only then starts the
workers, so they never race a migration; it decides nothing itself. Its ``/readyz`` is the
workers' readiness taken together (``reports``), its ``/metrics`` their series summed with its
own (``metrics``). The workers' files live in a directory of this run, removed at its end.
"""

import asyncio
import logging
import tempfile
import time
from pathlib import Path

from service.api.auth import Authenticate
from service.app import serve
from service.settings import Settings
from service.startup import on_signals, started
from service.store import store_backend
from service.workers.count import usable_cpus, worker_count
from service.workers.metrics import MULTIPROCESS_DIRECTORY, ParentMetrics
from service.workers.reports import whole_problems
from service.workers.supervisor import SILENT_FOR_SECONDS, Supervisor

log = logging.getLogger(__name__)


class WholeReadiness:
    """The parent's own start-up, then its workers' reports."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.store_ok = self.broker_ok = False
        self.supervisor: Supervisor | None = None

    def problems(self) -> list[str]:
        found = [] if self.store_ok else ["store unreachable"]
        found += [] if self.broker_ok else ["broker unreachable"]
        if self.supervisor is None:
            return [*found, "workers not started"]
        return found + whole_problems(self.directory, self.supervisor.pids, time.time())


def in_one_process(settings: Settings) -> bool:
    """Whether the consume loop runs in the service's own process: one worker configured, or
    left open on a machine with one usable CPU."""
    return settings.workers == 1 or (settings.workers == 0 and usable_cpus() == 1)


async def serve_service(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    handle_signals: bool = True,
    api_auth: Authenticate | None = None,
) -> None:
    """``referrals run``: one process, or a parent and its workers, as the settings say."""
    if in_one_process(settings):
        await serve(settings, stop, handle_signals=handle_signals, api_auth=api_auth)
    else:
        await serve_with_workers(settings, stop, handle_signals=handle_signals, api_auth=api_auth)


async def serve_with_workers(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    handle_signals: bool = True,
    api_auth: Authenticate | None = None,
) -> None:
    """Run the parent and its workers until ``stop`` is set or SIGTERM/SIGINT arrives; then
    stop the workers (each lands its batch) and shut down."""
    stop = stop or asyncio.Event()
    if handle_signals:
        on_signals(stop)
    with tempfile.TemporaryDirectory(prefix="referrals-workers-") as directory:
        await _serve(settings, stop, Path(directory), api_auth)


async def _serve(
    settings: Settings, stop: asyncio.Event, directory: Path, api_auth: Authenticate | None
) -> None:
    whole = WholeReadiness(directory)
    (directory / "metrics").mkdir()
    backend = store_backend(settings.database_url.get_secret_value())
    metrics = ParentMetrics(directory / "metrics", lambda: not whole.problems(), backend)
    try:
        async with started(settings, metrics.registry, whole, stop, api_auth) as (_, partitions):
            if not stop.is_set():
                whole.supervisor = _supervisor(settings, directory, partitions, metrics)
                await whole.supervisor.run(stop)
    finally:
        log.info("service stopped")


def _supervisor(
    settings: Settings, directory: Path, partitions: int, metrics: ParentMetrics
) -> Supervisor:
    count = worker_count(settings.workers, partitions)
    metrics.workers.set(count)
    log.info("starting workers", extra={"workers": count, "partitions": partitions})

    def ended(pid: int, restarting: bool) -> None:
        metrics.worker_ended(pid)
        if restarting:
            metrics.restarts.inc()

    return Supervisor(
        count,
        directory,
        worker_environment(settings.model_copy(update={"workers": count}), directory / "metrics"),
        backoff_seconds=(settings.retry_initial_seconds, settings.retry_max_seconds),
        shutdown_seconds=settings.shutdown_timeout_seconds,
        on_end=ended,
        silent_for=max(SILENT_FOR_SECONDS, 3 * settings.session_timeout_ms / 1000),
    )


def worker_environment(settings: Settings, metrics_directory: Path) -> dict[str, str]:
    """The parent's environment with its settings as ``REFERRALS_*`` variables (those given
    on its command line included, ``workers`` the count started) and the workers' metrics
    directory."""
    return {**settings.child_environment(), MULTIPROCESS_DIRECTORY: str(metrics_directory)}
