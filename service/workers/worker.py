"""A worker process of ``referrals run``: ``python -m service.workers.worker INDEX PARENT DIR``.

It reads the same ``REFERRALS_*`` settings as its parent (the parent passes its own as
variables), runs the whole consume loop as a member of the consumer group, and tells the
parent its readiness through ``DIR`` (``reports``); its metrics go to files in ``DIR``
(``PROMETHEUS_MULTIPROC_DIR``, set by the parent). It ends with its parent, however the
parent ends. SIGTERM stops it cleanly (the batch in hand lands, the group is left); SIGINT is
the parent's to forward, so a terminal's Ctrl-C reaches the workers once, through it.
"""

import asyncio
import contextlib
import logging
import signal
import sys
import warnings
from pathlib import Path

from prometheus_client import CollectorRegistry

from service import logs
from service.app import consume
from service.consume.tracing import Tracing
from service.health import Health
from service.lifetime import end_with_parent
from service.metrics import Metrics
from service.runtime import tune_garbage_collection
from service.settings import Settings
from service.startup import on_signals, store_of, until_up
from service.store import store_backend
from service.workers.reports import keep_reporting

log = logging.getLogger("service.workers.worker")  # not __main__, as run with -m
#: The worker that runs expiry, the retention clean-up and the count of referrals per state.
FIRST = 0


async def serve_worker(
    settings: Settings, index: int, directory: Path, stop: asyncio.Event | None = None
) -> None:
    """Consume until ``stop`` is set or SIGTERM arrives. The parent opened (and migrated) the
    store and made the topics before starting any worker."""
    stop = stop or asyncio.Event()
    on_signals(stop, (signal.SIGTERM,))
    first = index == FIRST
    backend = store_backend(settings.database_url.get_secret_value())
    metrics = Metrics(CollectorRegistry(), store_backend=backend, counts_states=first)
    health = Health(stall_seconds=settings.stall_seconds)
    reporting = asyncio.create_task(keep_reporting(directory, index, health))
    tracing = Tracing.from_environment(settings.consumer_group)
    store = store_of(settings, deciding_processes=settings.workers)
    try:
        await until_up("store", lambda: store.open(migrate=False), settings, stop)
        health.store_ok = health.broker_ok = True  # the broker answered the parent
        if not stop.is_set():
            await consume(settings, store, metrics, health, stop, tracing, chores=first)
    finally:
        reporting.cancel()
        await store.close()
        tracing.shutdown()
        log.info("worker stopped")


def main(argv: list[str]) -> int:
    index, parent, directory = int(argv[0]), int(argv[1]), Path(argv[2])
    end_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # prometheus-client cannot drop a series from a worker's file and warns on stderr at
    # each try (the consumer lag of a revoked partition): plain text among the JSON log
    # lines. The parent shows each partition's most recent lag, its new owner's.
    warnings.filterwarnings("ignore", "Removal of labels has not been implemented", UserWarning)
    settings = Settings()
    logs.configure(settings.log_level, {"worker": index})
    tune_garbage_collection()
    log.info("worker starting")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_worker(settings, index, directory))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
