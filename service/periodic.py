"""What runs beside the consume loop on a schedule: the store-wide gauges with the probes
of the store and the broker that readiness reads, and the housekeeping (expiry of due
referrals, processed commands forgotten past their retention)."""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaConsumer

from service.consume.lag import probe_broker
from service.errors import ServiceError
from service.expiry import ExpiryScheduler
from service.health import Health
from service.metrics import Metrics
from service.settings import Settings
from service.store import Store

log = logging.getLogger(__name__)
GAUGE_REFRESH_SECONDS = 3.0
#: Counting the referrals per state reads an index entry per referral: the next count waits
#: at least this many times as long as the last one took, so that counting a large store
#: takes at most a fiftieth of its time, whatever the interval.
COUNT_SPACING = 50


def next_count_at(finished: float, took: float, interval: float) -> float:
    """When the next count of the referrals per state is due (monotonic seconds)."""
    return finished + max(interval, COUNT_SPACING * took)


async def watch(
    store: Store,
    consumer: AIOKafkaConsumer,
    metrics: Metrics,
    health: Health,
    count_interval: float,
) -> None:
    """Refresh the store-wide gauges and probe the store and the broker, periodically; the
    referrals per state (a count of every referral) only every ``count_interval`` seconds,
    or less often when a count takes long (``next_count_at``)."""
    next_count = 0.0
    while True:
        await probe_broker(consumer, health)
        try:
            started = time.monotonic()
            if metrics.counts_states and started >= next_count:
                metrics.report_states(await store.count_by_state())
                finished = time.monotonic()
                next_count = next_count_at(finished, finished - started, count_interval)
            metrics.outbox_backlog.set(await store.outbox_backlog())
            health.store_ok = True
        except ServiceError:
            health.store_ok = False
        except Exception as error:  # the gauges must keep refreshing whatever one round met
            log.error("gauge refresh failed", extra={"error": type(error).__name__})
        metrics.ready.set(1 if health.ready else 0)
        await asyncio.sleep(GAUGE_REFRESH_SECONDS)  # a periodic refresh, not a synchronisation


async def housekeeping(
    settings: Settings, store: Store, expiry: ExpiryScheduler, clock: Callable[[], datetime]
) -> None:
    """Expire due referrals and forget processed commands past the retention window."""
    while True:
        try:
            await expiry.request_due()
            await store.forget_processed(clock() - settings.processed_retention)
        except ServiceError as error:
            log.warning("housekeeping failed; next round retries", extra={"error": str(error)})
        except Exception as error:  # never let one round end expiry for good
            log.error("housekeeping failed unexpectedly", extra={"error": type(error).__name__})
        await asyncio.sleep(settings.expiry_interval_seconds)  # a schedule, not a sync
