"""The composition root: builds every part from the settings and runs the service.

Nothing connects at import time. ``serve`` retries the store and the broker until they
answer, so a replica can start before its dependencies; readiness stays false meanwhile.
"""

import asyncio
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.api.auth import Authenticate
from service.api.compose import read_api
from service.api.operations import following, operations_port
from service.consume.commits import OffsetCommits
from service.consume.landing import Landing, preparation
from service.consume.loop import ConsumeLoop
from service.consume.ownership import Partitions
from service.consume.publisher import OutboxPublisher, RerouteSettings
from service.consume.recent import RecentReferrals
from service.consume.recovery import Recovery
from service.consume.stages import BatchStages, Clock
from service.consume.tracing import Tracing
from service.consume.unreadable import PollGuard, RawFetcher
from service.errors import ConfigurationError
from service.expiry import ExpiryScheduler, expiry_key
from service.health import Health
from service.kafka import client_options, make_consumer, make_producer
from service.metrics import Metrics
from service.periodic import housekeeping, watch
from service.settings import Settings
from service.startup import on_signals, start_api, started, store_of, until_up
from service.store import Store, store_backend
from service.tenancy import Tenancy
from service.webhooks.dispatcher import Dispatcher

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    handle_signals: bool = True,
    tracing: Tracing | None = None,
    api_auth: Authenticate | None = None,
) -> None:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives; then shut down cleanly.

    Traces go where the ``OTEL_*`` variables say, unless ``tracing`` is given. The read API
    is served beside the consumer (``api_auth``: its caller check, else the one the
    settings configure)."""
    stop = stop or asyncio.Event()
    tracing = tracing or Tracing.from_environment(settings.consumer_group)
    if handle_signals:
        on_signals(stop)
    registry = CollectorRegistry()
    metrics = Metrics(
        registry, store_backend=store_backend(settings.database_url.get_secret_value())
    )
    health = Health(stall_seconds=settings.stall_seconds)
    try:
        starting = started(settings, registry, health, stop, api_auth, deciding_processes=1)
        async with starting as (store, _):
            if not stop.is_set():
                await consume(settings, store, metrics, health, stop, tracing)
    finally:
        tracing.shutdown()
        log.info("service stopped")


async def serve_api(
    settings: Settings, stop: asyncio.Event | None = None, *, handle_signals: bool = True
) -> None:
    """The read API alone over the store (``referrals api``): reads scale apart from the
    consumer, ready while the store answers (``service.api.operations``). Runs until
    ``stop`` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    if handle_signals:
        on_signals(stop)
    store = store_of(settings)
    # One registry: the operations port serves it, the API's request metrics go into it.
    registry = CollectorRegistry()
    api = read_api(settings, store, registry=registry)
    if api is None:
        raise ConfigurationError("the read API needs authentication settings (see the README)")
    try:
        async with operations_port(settings, registry) as readiness:
            # A reader needs only SELECT: the consumer migrates, the read API never does.
            await until_up("store", lambda: store.open(migrate=False), settings, stop)
            readiness.store_ok = True
            await start_api(api)
            readiness.listening = True
            async with following(readiness, store):
                await stop.wait()
    finally:
        await api.stop()
        await store.close()


async def consume(
    settings: Settings,
    store: Store,
    metrics: Metrics,
    health: Health,
    stop: asyncio.Event,
    tracing: Tracing,
    *,
    chores: bool = True,
) -> None:
    """The consume loop until ``stop``, with the gauges beside it; with ``chores`` also the
    housekeeping (expiry, retention) and the webhook dispatcher, which one process of a
    service runs."""
    tenancy = await _tenancy(settings, store, stop)
    consumer, producer = make_consumer(settings), make_producer(settings)
    publisher = outbox_publisher(settings, store, producer, metrics, health)
    loop = consume_loop(
        settings, store, consumer, publisher, metrics, health, tracing, tenancy=tenancy
    )
    await producer.start()
    loop.subscribe()
    await consumer.start()
    expiry = ExpiryScheduler(settings, store, publisher, utc_now)
    gauges = asyncio.create_task(
        watch(store, consumer, metrics, health, settings.state_count_interval_seconds)
    )
    beside = [gauges]
    if chores:
        beside.append(asyncio.create_task(housekeeping(settings, store, expiry, utc_now)))
        webhooks = Dispatcher(settings, store, metrics.webhooks, utc_now)
        beside.append(asyncio.create_task(webhooks.run()))
    running = asyncio.create_task(loop.run())
    try:
        await _until_stopped(loop, running, stop, settings.shutdown_timeout_seconds)
    finally:
        for task in (*beside, running):
            task.cancel()
        health.assigned = False
        await consumer.stop()  # leaves the group, so the partitions move on at once
        await producer.stop()
        await loop.close()


async def _until_stopped(
    loop: ConsumeLoop, running: asyncio.Task[None], stop: asyncio.Event, shutdown: float
) -> None:
    """Wait for ``stop`` (or the loop's end), then give the batch in hand ``shutdown``
    seconds to land."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    loop.stop()
    try:
        await asyncio.wait_for(running, shutdown)
    except TimeoutError:
        log.error("batch did not finish in time; its offsets stay uncommitted")
    except Exception as error:
        if not stop.is_set():
            raise  # the loop itself failed: end the process so it is restarted
        # Stopping: the batch in hand stays uncommitted and is redelivered.
        log.error("stopped while a batch was failing", extra={"error": type(error).__name__})


def outbox_publisher(
    settings: Settings,
    store: Store,
    producer: AIOKafkaProducer,
    metrics: Metrics,
    health: Health,
) -> OutboxPublisher:
    reroute = RerouteSettings(
        settings.dlq_topic, settings.max_record_bytes, settings.poison_attempts
    )
    return OutboxPublisher(producer, store, reroute, metrics, health)


def consume_loop(
    settings: Settings,
    store: Store,
    consumer: AIOKafkaConsumer,
    publisher: OutboxPublisher,
    metrics: Metrics,
    health: Health,
    tracing: Tracing,
    clock: Clock = utc_now,
    tenancy: Tenancy | None = None,
) -> ConsumeLoop:
    """The consume side, composed: the stages of a batch over the store and the publisher,
    recovery over the stages, landing over both, and the loop over them all."""
    partitions, stopping = Partitions(), asyncio.Event()
    recent = RecentReferrals(settings.referral_cache_size)
    stages = BatchStages(
        settings, store, publisher, recent, partitions, metrics, health, tracing, clock
    )
    recovery = Recovery(settings, stages, partitions, metrics, health, tracing, stopping)
    commits = OffsetCommits(consumer, metrics, health)
    landing = Landing(commits, stages, recovery, partitions, metrics)
    ready = preparation(store, stages)
    guard = PollGuard(consumer, RawFetcher(client_options(settings)), settings.max_batch_size)
    return ConsumeLoop(
        settings, consumer, stages, ready, landing, recovery, recent, guard, stopping, tenancy
    )


async def _tenancy(settings: Settings, store: Store, stop: asyncio.Event) -> Tenancy:
    """How the consume side establishes tenants, with the expiry key that proves expiries
    (read or made in the store unless configured: retried like the store's opening)."""
    keys: list[bytes] = []

    async def read_key() -> None:
        keys.append(await expiry_key(settings, store))

    await until_up("store", read_key, settings, stop)
    return Tenancy(settings.topic_tenants, keys[0] if keys else None)
