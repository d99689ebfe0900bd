"""The operations port of ``referrals api``: ``/healthz`` (alive), ``/readyz`` and
``/metrics`` on ``REFERRALS_HTTP_PORT``, as ``referrals run`` serves them.

Ready means the store answers and the read API listens. Kafka is never asked: a read tier
keeps serving while the broker is down. The store is asked for one referral by an id no
referral has every ``STORE_CHECK_SECONDS``, an index lookup bounded by the store's own
timeouts, so readiness follows an outage of the database and its end.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry

from service.http import HttpServer
from service.metrics import process_series
from service.settings import Settings
from service.store import Store, store_backend

STORE_CHECK_SECONDS: Final = 5.0
#: The id the store is asked for; no referral has it, and none is returned.
_PROBE_ID: Final = "readiness-probe"
log = logging.getLogger(__name__)


@dataclass
class ReaderReadiness:
    """What ``/readyz`` of ``referrals api`` reports: the store and the API, nothing else."""

    store_ok: bool = False
    listening: bool = False

    def problems(self) -> list[str]:
        found = []
        if not self.store_ok:
            found.append("store unreachable")
        if not self.listening:
            found.append("read API not listening")
        return found

    async def check(self, store: Store) -> None:
        """Ask the store once; readiness follows its answer."""
        try:
            await store.get(_PROBE_ID)
        except Exception as error:  # any failure to answer is an outage of the store
            if self.store_ok:
                log.warning("store not reachable", extra={"error": str(error)})
            self.store_ok = False
            return
        self.store_ok = True

    async def follow(self, store: Store, interval: float = STORE_CHECK_SECONDS) -> None:
        """Check the store every ``interval`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.check(store)


@contextlib.asynccontextmanager
async def operations_port(
    settings: Settings, registry: CollectorRegistry
) -> AsyncIterator[ReaderReadiness]:
    """The operations port serving ``registry`` (with the process's own series) and the
    readiness it yields, until the block ends."""
    process_series(registry, store_backend(settings.database_url.get_secret_value()))
    readiness = ReaderReadiness()
    http = HttpServer(settings.http_host, settings.http_port, registry, readiness)
    await http.start()
    try:
        yield readiness
    finally:
        await http.stop()


@contextlib.asynccontextmanager
async def following(readiness: ReaderReadiness, store: Store) -> AsyncIterator[None]:
    """``readiness`` following the store while the block runs."""
    task = asyncio.create_task(readiness.follow(store))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
