"""Signed expiry through a real broker and store, in multi-tenant mode: on the shared
commands topic, the scheduler's signed expiry and an operator's ``referrals expire`` close
a tenant's referral; an unsigned one, a forged one, and one replaying the scheduler's
signature for another referral are refused (accessDenied) and change nothing."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from service.cli.exits import ExitStatus
from service.settings import Settings
from service.tenancy import EXPIRY_SIGNATURE
from state.fields import format_utc
from tests.support.cli_runner import referrals
from tests.support.kafka_io import Producer, Received, collect, command
from tests.support.postgres import fresh_postgres_database
from tests.support.services import running

pytestmark = pytest.mark.broker


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def tenants(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Settings]:
    """Multi-tenant settings (org-a, org-b), expiry looked for often; on either store, which
    keeps the expiry secret (none is configured)."""
    topics = {org: f"{settings.commands_topic}-{org}" for org in ("org-a", "org-b")}
    update: dict[str, Any] = {"tenant_topics": topics, "expiry_interval_seconds": 0.3}
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "postgresql":
            url = await stack.enter_async_context(fresh_postgres_database())
            update["database_url"] = SecretStr(url)
        yield settings.model_copy(update=update)


def answers(records: list[Received], command_id: str) -> list[dict[str, Any]]:
    return [r.json for r in records if r.json.get("commandId") == command_id]


def expired(records: list[Received], referral_id: str) -> list[Received]:
    return [
        r
        for r in records
        if r.header("ce_type") == "referral.expired" and r.key == referral_id.encode()
    ]


async def test_only_a_signed_expiry_on_the_shared_topic_closes_a_tenants_referral(
    tenants: Settings,
) -> None:
    due, kept = f"due-{uuid.uuid4()}", f"kept-{uuid.uuid4()}"
    past = {"expirationDateTime": format_utc(datetime.now(UTC) - timedelta(days=1))}
    async with (
        running(tenants),
        Producer(tenants, tenants.tenant_topics["org-a"]) as org_a,
        Producer(tenants) as shared,
    ):
        created = command("referral.create", kept, {"name": "not due for 14 days"})
        await org_a.structured(created)
        await org_a.structured(command("referral.create", due, past))
        signed = await collect(
            tenants,
            [tenants.commands_topic],
            lambda got: any(r.key == due.encode() for r in got),
            within=30,
        )
        (scheduled,) = [r.json for r in signed if r.key == due.encode()]
        attempts = [
            command("referral.expire", kept, tenantid="org-a"),
            command("referral.expire", kept, tenantid="org-a", **{EXPIRY_SIGNATURE: "0" * 64}),
            command("referral.expire", kept, tenantid="org-a",
                    **{EXPIRY_SIGNATURE: scheduled[EXPIRY_SIGNATURE]}),
        ]  # fmt: skip
        for attempt in attempts:
            await shared.structured(attempt)
        records = await collect(
            tenants,
            [tenants.events_topic, tenants.rejections_topic],
            lambda got: all(answers(got, a["id"]) for a in attempts) and bool(expired(got, due)),
            within=30,
        )
        operator = await referrals(tenants, "--json", "expire", kept, "--tenant", "org-a")

    assert scheduled["tenantid"] == "org-a"
    (by_scheduler,) = expired(records, due)
    assert by_scheduler.header("ce_tenantid") == "org-a"
    for attempt in attempts:
        (refused,) = answers(records, attempt["id"])
        assert refused["code"] == "accessDenied", refused
        assert "expirysignature" in refused["message"]
    assert expired(records, kept) == []
    assert operator.status == ExitStatus.OK, operator
    (answer,) = operator.json_lines()
    (event,) = answer["events"]
    assert (event["type"], event["tenantid"]) == ("referral.expired", "org-a")
    assert (event["data"]["previousStatus"], event["data"]["substatus"]) == ("New", "Expired")
