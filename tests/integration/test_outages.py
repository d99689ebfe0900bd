"""Store outages: the batch is retried with backoff, nothing is skipped or committed early,
and readiness reports not-ready until the store is back."""

import sqlite3
import uuid

import pytest

from service.settings import Settings
from tests.support.http_probes import http_get, wait_status
from tests.support.kafka_io import Producer, collect, command, committed_offset

pytestmark = pytest.mark.broker


async def test_a_locked_store_is_retried_without_skipping_or_committing(
    service: Settings,
) -> None:
    first, second = f"ref-{uuid.uuid4()}", f"ref-{uuid.uuid4()}"
    async with Producer(service) as producer:
        await producer.structured(command("referral.create", first, {"name": "before"}))
        await collect(service, [service.events_topic], lambda got: len(got) == 1)
        database = service.database_url.get_secret_value().removeprefix("sqlite:///")
        blocker = sqlite3.connect(database, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            sent = await producer.structured(command("referral.accept", first))
            await producer.structured(command("referral.create", second, {"name": "during"}))
            await wait_status(service.http_port, "/readyz", 503)
            committed = await committed_offset(service, sent.partition)
            assert committed is None or committed <= sent.offset
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

    events = await collect(service, [service.events_topic], lambda got: len(got) == 3)
    await wait_status(service.http_port, "/readyz", 200)

    assert sorted(e.header("ce_type") for e in events) == [
        "referral.accepted",
        "referral.created",
        "referral.created",
    ]
    _, metrics = await http_get(service.http_port, "/metrics")
    assert b'referrals_retries_total{component="store"}' in metrics
