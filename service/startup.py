"""What a service process does before it serves: the HTTP port, the store (migrated as the
settings say), the read API and the topics, each retried until it answers; and the signals
that stop it. Shared by ``referrals run`` in one process (``app``), its parent of workers
(``service.workers.parent``) and ``referrals api``.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from prometheus_client import CollectorRegistry

from service.api.auth import Authenticate
from service.api.compose import OFF_WARNING, read_api
from service.api.server import ApiServer
from service.errors import ServiceError, backoff
from service.health import Readiness
from service.http import HttpServer
from service.kafka import ensure_topics
from service.settings import Settings
from service.store import PostgresBounds, Store, open_store
from service.workers.count import usable_cpus

log = logging.getLogger(__name__)


class StartingUp(Readiness, Protocol):
    """Readiness that the start-up tells when the store and the broker first answered."""

    store_ok: bool
    broker_ok: bool


@contextlib.asynccontextmanager
async def started(
    settings: Settings,
    registry: CollectorRegistry,
    readiness: StartingUp,
    stop: asyncio.Event,
    api_auth: Authenticate | None,
    *,
    deciding_processes: int = 0,
) -> AsyncIterator[tuple[Store, int]]:
    """The HTTP port, the store (migrated as the settings say), the read API and the topics,
    each retried until it answers or ``stop`` is set; yields the store and the most
    partitions of a commands topic (0 when stopped first). All are closed at the end.
    ``deciding_processes``: as ``store_of`` takes it."""
    http = HttpServer(settings.http_host, settings.http_port, registry, readiness)
    await http.start()
    log.info("service starting", extra={"settings": settings.describe(), "http_port": http.port})
    store = store_of(settings, deciding_processes=deciding_processes)
    api: ApiServer | None = None
    try:
        enabled = settings.api_enabled
        api = read_api(settings, store, api_auth, registry=registry) if enabled else None
        if api is None and enabled:
            log.warning(OFF_WARNING)
        # Without migrating (a migration run once per release), a schema that is not this
        # version's is refused: ConfigurationError ends the start with a message saying so.
        migrate = settings.database_migrate
        await until_up("store", lambda: store.open(migrate=migrate), settings, stop)
        readiness.store_ok = True
        await start_api(api)
        partitions: list[int] = []

        async def make_topics() -> None:
            partitions.append(await ensure_topics(settings))

        await until_up("broker", make_topics, settings, stop)
        readiness.broker_ok = True
        yield store, partitions[0] if partitions else 0
    finally:
        if api is not None:
            await api.stop()
        await store.close()
        await http.stop()


async def start_api(api: ApiServer | None) -> None:
    if api is not None:
        await api.start()
        log.info("read API listening", extra={"url": api.url})


def store_of(settings: Settings, *, deciding_processes: int = 0) -> Store:
    """The store the settings name, with PostgreSQL's waits bounded by them.
    ``deciding_processes``: how many processes of this service run a consume loop on this
    machine (0: this one runs none); a SQLite store writes beside the decisions when the
    machine has a core more than them (``SqliteStore``)."""
    bounds = PostgresBounds(
        connect=settings.database_connect_timeout_seconds,
        acquire=settings.database_acquire_timeout_seconds,
        statement=settings.database_statement_timeout_seconds,
        migration=settings.database_migration_timeout_seconds,
    )
    url = settings.database_url.get_secret_value()
    beside = 0 < deciding_processes < usable_cpus()
    return open_store(url, settings.database_pool_size, bounds, sqlite_writes_beside=beside)


async def until_up(
    what: str, connect: Callable[[], Awaitable[object]], settings: Settings, stop: asyncio.Event
) -> None:
    """Run ``connect`` until it succeeds or ``stop`` is set, backing off between tries; an
    error that retrying cannot mend (a non-retriable ServiceError) is raised."""
    delays = backoff(settings.retry_initial_seconds, settings.retry_max_seconds)
    while not stop.is_set():
        try:
            await connect()
            return
        except ServiceError as error:
            if not error.retriable:
                # Retrying cannot help: the settings, the data or the grants must change
                # (a schema of another version, a role that may not migrate).
                raise
            log.warning(f"{what} not reachable, retrying", extra={"error": str(error)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next(delays))
        except Exception as error:  # any other failure to reach a dependency is retried
            log.warning(f"{what} not reachable, retrying", extra={"error": str(error)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next(delays))


def on_signals(
    stop: asyncio.Event, signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
) -> None:
    loop = asyncio.get_running_loop()
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
