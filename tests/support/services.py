"""The service in the test's event loop, on topics, group and port of its own."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from service.app import serve
from service.broker import free_port
from service.consume.tracing import Tracing
from service.settings import Settings
from tests.support.http_probes import wait_ready


def isolated_settings(bootstrap: str, database: Path, **overrides: object) -> Settings:
    """Settings with topics and group of their own, so tests never see each other's records."""
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "kafka_bootstrap_servers": bootstrap,
        "database_url": f"sqlite:///{database}",
        "consumer_group": f"referrals-{suffix}",
        "commands_topic": f"commands-{suffix}",
        "events_topic": f"events-{suffix}",
        "rejections_topic": f"rejections-{suffix}",
        "dlq_topic": f"dlq-{suffix}",
        "http_port": free_port(),
        "fetch_max_wait_ms": 20,
        "session_timeout_ms": 6000,
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.5,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@contextlib.asynccontextmanager
async def running(settings: Settings, tracing: Tracing | None = None) -> AsyncIterator[Settings]:
    """The service running in this event loop, ready, until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, handle_signals=False, tracing=tracing))
    try:
        await wait_ready(settings.http_port)
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
