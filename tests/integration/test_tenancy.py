"""Tenants through a real broker and store: each tenant writes its own command topic.

A command read from a tenant's topic acts as that tenant whatever it declares; another
tenant's referral looks exactly like a missing one, for every command type; command ids
are per tenant; the shared topic is the operators' own, where ``tenantid`` is trusted.
"""

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from service.settings import Settings
from tests.support.kafka_io import Producer, Received, collect, command
from tests.support.postgres import fresh_postgres_database
from tests.support.services import running

pytestmark = pytest.mark.broker

DOCUMENT = {"name": "Contoso migration", "customerProfile": {"address": {"country": "US"}}}
PROBES: list[tuple[str, Any, dict[str, str]]] = [
    ("referral.accept", None, {}),
    ("referral.decline", None, {}),
    ("referral.win", {"statusReason": "signed"}, {}),
    ("referral.lose", None, {}),
    ("referral.expire", None, {}),
    ("referral.patch", [{"op": "add", "path": "/name", "value": "taken over"}], {}),
    ("referral.replace", DOCUMENT, {"ifmatch": "*"}),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def tenants(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Settings]:
    """Multi-tenant settings: org-a and org-b each have a topic; on either store backend."""
    topics = {org: f"{settings.commands_topic}-{org}" for org in ("org-a", "org-b")}
    async with contextlib.AsyncExitStack() as stack:
        update: dict[str, Any] = {"tenant_topics": topics}
        if request.param == "postgresql":
            url = await stack.enter_async_context(fresh_postgres_database())
            update["database_url"] = SecretStr(url)
        yield settings.model_copy(update=update)


@contextlib.asynccontextmanager
async def producers(settings: Settings) -> AsyncIterator[dict[str, Producer]]:
    """One producer per tenant topic, and ``ops`` for the shared commands topic."""
    async with contextlib.AsyncExitStack() as stack:
        found = {"ops": await stack.enter_async_context(Producer(settings))}
        for tenant, topic in settings.tenant_topics.items():
            found[tenant] = await stack.enter_async_context(Producer(settings, topic))
        yield found


def outcome_of(records: list[Received], command_id: str) -> list[dict[str, Any]]:
    return [r.json for r in records if r.json.get("commandId") == command_id]


def without_ids(rejection: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rejection.items() if k not in ("commandId", "referralId")}


async def test_another_tenants_referral_looks_missing_to_every_command_and_impersonation_fails(
    tenants: Settings,
) -> None:
    taken, missing = f"ref-{uuid.uuid4()}", f"ref-{uuid.uuid4()}"
    sent: dict[str, dict[str, Any]] = {}
    async with running(tenants), producers(tenants) as produce:
        original = command("referral.create", taken, DOCUMENT)
        await produce["org-a"].structured(original)
        # Topics are not ordered with each other: the operators' command waits for the create.
        await collect(
            tenants, [tenants.events_topic], lambda got: bool(outcome_of(got, original["id"]))
        )
        for kind, data, extra in PROBES:
            for subject in (taken, missing):
                probe = command(kind, subject, data, **extra)
                sent[f"{kind} {subject}"] = probe
                await produce["org-b"].structured(probe)
        forged = command("referral.accept", taken, tenantid="org-a")
        await produce["org-b"].structured(forged)
        own = command("referral.create", taken, DOCUMENT)
        await produce["org-b"].structured(own)
        operators = command("referral.accept", taken, tenantid="org-a")
        await produce["ops"].structured(operators)

        records = await collect(
            tenants,
            [tenants.events_topic, tenants.rejections_topic],
            lambda got: bool(outcome_of(got, operators["id"])),
        )

    for kind, _, _ in PROBES:
        (on_taken,) = outcome_of(records, sent[f"{kind} {taken}"]["id"])
        (on_missing,) = outcome_of(records, sent[f"{kind} {missing}"]["id"])
        assert on_taken["code"] == "itemNotFound", kind
        assert without_ids(on_taken) == without_ids(on_missing), kind
    (refused,) = outcome_of(records, forged["id"])
    assert (refused["code"], refused["tenantId"]) == ("accessDenied", "org-b")
    assert "org-a" not in refused["message"]
    (created,) = outcome_of(records, own["id"])
    assert (created["tenantId"], created["version"]) == ("org-b", 1)
    (accepted,) = outcome_of(records, operators["id"])
    assert (accepted["tenantId"], accepted["status"], accepted["version"]) == ("org-a", "Active", 2)
    events = [r for r in records if r.topic == tenants.events_topic]
    assert {(e.header("ce_tenantid"), e.json["version"]) for e in events} == {
        ("org-a", 1), ("org-b", 1), ("org-a", 2),
    }  # fmt: skip
    assert len({e.header("ce_id") for e in events}) == 3


async def test_command_ids_are_per_tenant_and_a_repeat_within_a_tenant_is_a_duplicate(
    tenants: Settings,
) -> None:
    shared_id = f"cmd-{uuid.uuid4()}"
    first, second = f"ref-{uuid.uuid4()}", f"ref-{uuid.uuid4()}"
    retried = {**DOCUMENT, "name": "sent again with the same id"}
    async with running(tenants), producers(tenants) as produce:
        await produce["org-a"].structured(command("referral.create", first, DOCUMENT, shared_id))
        await produce["org-b"].structured(command("referral.create", second, DOCUMENT, shared_id))
        await produce["org-a"].structured(command("referral.create", first, retried, shared_id))
        # After the retry on its partition: once this is out, the retry was processed.
        marker = command("referral.patch", first, [{"op": "add", "path": "/notes", "value": "x"}])
        await produce["org-a"].structured(marker)

        records = await collect(
            tenants,
            [tenants.events_topic, tenants.rejections_topic],
            lambda got: bool(outcome_of(got, marker["id"])),
        )

    applied = outcome_of(records, shared_id)
    assert sorted(
        (e["tenantId"], e["referralId"], e["referral"]["name"]) for e in applied
    ) == sorted([("org-a", first, DOCUMENT["name"]), ("org-b", second, DOCUMENT["name"])])
