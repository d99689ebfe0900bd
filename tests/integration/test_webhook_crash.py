"""A kill -9 of the service loses no webhook notification: each is recorded with its event,
so the restarted service sends what the killed one had not (at least once)."""

import uuid
from pathlib import Path

import pytest

from service.broker import EmbeddedBroker
from tests.support.http_probes import wait_ready
from tests.support.kafka_io import Producer, command
from tests.support.replica_scenarios import ServiceProcess, processed_at_least
from tests.support.webhook_receiver import receiving
from tests.support.webhook_service import register, webhook_settings

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REFERRALS = 15


async def test_a_kill_9_loses_no_notification(broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = webhook_settings(
        broker,
        tmp_path / "crash.db",
        max_batch_size=5,
        log_level="WARNING",
        webhook_concurrency_per_endpoint=1,
        webhook_connect_timeout_seconds=0.5,
        webhook_read_timeout_seconds=0.5,
    )
    ids = [f"k-{n:02d}-{uuid.uuid4().hex[:6]}" for n in range(REFERRALS)]
    service = ServiceProcess(settings, tmp_path / "service.log")
    service.start()
    try:
        async with receiving() as receiver:
            await wait_ready(settings.http_port)
            assert (await register(settings, "key-a", receiver.url)).status_code == 201
            async with Producer(settings) as producer:
                for referral in ids:
                    await producer.structured(
                        command("referral.create", referral, {"name": "K"}, tenantid="org-a")
                    )
                    await producer.structured(
                        command("referral.accept", referral, tenantid="org-a")
                    )
            await processed_at_least(settings.http_port, REFERRALS // 2)
            service.kill()
            service.start()
            expected = {(r, e) for r in ids for e in ("referral-created", "referral-updated")}
            await receiver.until(lambda got: _notified(got) >= expected, within=60)
        assert service.terminate(grace=40) == 0
    finally:
        service.ensure_stopped()


def _notified(received: list) -> set[tuple[str, str]]:
    return {(r.json["ResourceUri"].rpartition("/")[2], r.json["EventName"]) for r in received}
