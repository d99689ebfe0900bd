"""The dispatcher: claims due deliveries from the store and sends them, at least once.

It runs beside the housekeeping (one process of a service; on PostgreSQL each replica's
claims skip the rows another holds). A claim hides its deliveries for a lease longer than
their sends can take, so a dispatcher that dies mid-send leaves them due again. A tenant
with work in flight is not claimed for again until that work ends, and its sends share a
bound (``webhook_concurrency_per_endpoint``); one referral's deliveries go one after
another, in the order stored. Nothing here waits on the consume loop or blocks it: a slow
endpoint holds only its own tenant's work.

A failed attempt is retried after a delay drawn uniformly from zero to an exponentially
growing cap (full jitter); once a delivery has been retried for the retry period, its
registration is marked failing and all its pending deliveries parked, until a replay.
"""

import asyncio
import functools
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from service.errors import ServiceError
from service.metrics import WebhookMetrics
from service.settings import Settings
from service.store.webhooks import Delivery, WebhookStore
from service.webhooks.notices import body
from service.webhooks.sender import Sender, SendLimits
from service.webhooks.targets import TargetPolicy

log = logging.getLogger(__name__)
#: A claim takes this many deliveries of a tenant per request it may have in flight.
CLAIM_ROUNDS = 4
#: How often the queue gauges are refreshed and delivered rows past retention forgotten.
CHORES_SECONDS = 30.0


def backoff(attempts: int, initial: float, cap: float, draw: Callable[[], float]) -> float:
    """The delay before the next attempt after ``attempts`` failed ones (full jitter):
    uniform in [0, min(cap, initial * 2^(attempts-1))]; ``draw`` is uniform in [0, 1)."""
    ceiling = min(cap, initial * 2.0 ** min(max(attempts - 1, 0), 60))
    return ceiling * draw()


def public_root(settings: Settings) -> str:
    """The base of the ResourceUri: the API's public URL, else its own address."""
    return settings.api_public_url or f"http://{settings.api_bind_host}:{settings.api_port}"


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        store: WebhookStore,
        metrics: WebhookMetrics | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings, self.store, self.metrics, self.clock = settings, store, metrics, clock
        limits = SendLimits(
            settings.webhook_connect_timeout_seconds,
            settings.webhook_read_timeout_seconds,
            settings.webhook_max_response_bytes,
        )
        policy = TargetPolicy(settings.webhook_allow_http, settings.webhook_allow_private_targets)
        self.sender = Sender(policy, limits)
        self.per_tenant = settings.webhook_concurrency_per_endpoint * CLAIM_ROUNDS
        # A claim's deliveries may all be one referral's, sent one after another.
        self.lease = (self.per_tenant + 1) * limits.whole_seconds
        self.root = public_root(settings)
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._draw = random.random

    async def run(self) -> None:
        """Claim and send until cancelled; a failing round is retried the next."""
        chores_at = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    await self.claim_round()
                    if loop.time() >= chores_at:
                        await self.chores()
                        chores_at = loop.time() + CHORES_SECONDS
                except ServiceError as error:
                    log.warning("webhook round failed; next retries", extra={"error": str(error)})
                except Exception as error:  # one bad round must not end the deliveries
                    log.error("webhook round failed", extra={"error": type(error).__name__})
                await asyncio.sleep(self.settings.webhook_poll_seconds)  # a schedule
        finally:
            for task in self._in_flight.values():
                task.cancel()
            await self.sender.close()

    async def claim_round(self) -> int:
        """Claim due deliveries of the tenants with nothing in flight and start them."""
        claimed = await self.store.claim_deliveries(
            self.clock(), self.lease, self.per_tenant, set(self._in_flight)
        )
        by_tenant: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in claimed:
            by_tenant[delivery.tenant].append(delivery)
        for tenant, deliveries in by_tenant.items():
            task = asyncio.create_task(self._send_tenant(deliveries))
            self._in_flight[tenant] = task
            task.add_done_callback(functools.partial(self._ended, tenant))
        return len(claimed)

    def _ended(self, tenant: str, _: asyncio.Task[None]) -> None:
        self._in_flight.pop(tenant, None)

    async def idle(self, tenant: str | None = None) -> None:
        """Wait for the work in flight (of ``tenant`` only, if named) to end."""
        tasks = self._in_flight.values() if tenant is None else [self._in_flight.get(tenant)]
        await asyncio.gather(*(task for task in tasks if task), return_exceptions=True)

    async def chores(self) -> None:
        counts = await self.store.webhook_counts()
        if self.metrics is not None:
            self.metrics.queue.labels("pending").set(counts.pending)
            self.metrics.queue.labels("parked").set(counts.parked)
            self.metrics.failing_endpoints.set(counts.failing_endpoints)
        await self.store.forget_delivered(self.clock() - self.settings.processed_retention)

    async def _send_tenant(self, deliveries: list[Delivery]) -> None:
        bound = asyncio.Semaphore(self.settings.webhook_concurrency_per_endpoint)
        chains = await asyncio.gather(
            *(self._send_chain(chain, bound) for chain in _by_referral(deliveries)),
            return_exceptions=True,
        )
        for failure in chains:
            if isinstance(failure, BaseException):
                log.error("webhook send failed", extra={"error": type(failure).__name__})

    async def _send_chain(self, chain: list[Delivery], bound: asyncio.Semaphore) -> None:
        for at, delivery in enumerate(chain):
            async with bound:
                retry_at = await self._send_one(delivery)
            if retry_at is not None:  # the referral's later ones wait for this one
                for later in chain[at + 1 :]:
                    await self.store.retry_later(later.id, retry_at, "an earlier one is due")
                return

    async def _send_one(self, delivery: Delivery) -> datetime | None:
        """One attempt, and its outcome stored; when it is retried (None: delivered, or
        parked with its registration's others)."""
        payload = body(delivery.event, self.root, delivery.referral_id, delivery.changed_at)
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = await self.sender.send(
            delivery.url, delivery.secret, delivery.id, delivery.event, payload
        )
        if self.metrics is not None:
            self.metrics.latency.observe(loop.time() - started)
        now = self.clock()
        if sent.ok:
            await self.store.delivered(delivery.id, now)
            self._count("delivered", delivery.event)
            return None
        error = sent.error or "failed"
        if now >= delivery.retry_from + self.settings.webhook_retry_period:
            await self.store.park(delivery.tenant, error)
            self._count("parked", delivery.event)
            log.warning("webhook endpoint failing: deliveries parked",
                        extra={"tenant": delivery.tenant, "error": error})  # fmt: skip
            return None
        delay = backoff(
            delivery.attempts,
            self.settings.webhook_retry_initial_seconds,
            self.settings.webhook_retry_max_seconds,
            self._draw,
        )
        retry_at = now + timedelta(seconds=delay)
        await self.store.retry_later(delivery.id, retry_at, error)
        self._count("failed", delivery.event)
        return retry_at

    def _count(self, outcome: str, event: str) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(outcome, event).inc()


def _by_referral(deliveries: Iterable[Delivery]) -> list[list[Delivery]]:
    """The deliveries in chains of one referral each, each chain in claim (stored) order."""
    chains: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        chains[delivery.referral_id].append(delivery)
    return list(chains.values())
