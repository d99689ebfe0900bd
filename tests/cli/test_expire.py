"""``referrals expire``: an operator closes a referral as Expired now. Naming a tenant, the
command is signed with the expiry secret: in multi-tenant mode only the right secret
expires a tenant's referral; without a tenant no secret is needed."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr

from service.broker import EmbeddedBroker
from service.cli.exits import ExitStatus
from service.settings import Settings
from tests.support.cli_runner import Ran, referrals
from tests.support.kafka_io import Producer, collect, command
from tests.support.services import isolated_settings, running

pytestmark = [pytest.mark.broker, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tenants(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    """Multi-tenant mode with a configured expiry secret."""
    plain = isolated_settings(
        broker.bootstrap_servers, tmp_path_factory.mktemp("store") / "referrals.db"
    )
    update = {
        "tenant_topics": {"org-a": f"{plain.commands_topic}.org-a"},
        "expiry_secret": SecretStr("the operators' secret"),
    }
    async with running(plain.model_copy(update=update)) as ready:
        yield ready


async def created(settings: Settings, tenant: str | None) -> str:
    """A new referral of ``tenant`` (None: tenant-less, on the shared topic), once stored."""
    referral_id = f"exp-{uuid.uuid4()}"
    topic = settings.tenant_topics.get(tenant) if tenant else None
    async with Producer(settings, topic) as producer:
        await producer.structured(command("referral.create", referral_id, {"name": "n"}))
    await collect(
        settings,
        [settings.events_topic],
        lambda got: any(r.key == referral_id.encode() for r in got),
    )
    return referral_id


async def expire(settings: Settings, *args: str) -> tuple[Ran, dict[str, object]]:
    ran = await referrals(settings, "--json", "expire", *args)
    lines = ran.json_lines()
    return ran, lines[0] if lines else {}


async def test_the_right_secret_expires_a_tenants_referral_and_another_is_refused(
    tenants: Settings,
) -> None:
    referral_id = await created(tenants, "org-a")
    wrong = tenants.model_copy(update={"expiry_secret": SecretStr("a guess")})
    ran, answer = await expire(wrong, referral_id, "--tenant", "org-a")
    assert (ran.status, answer["code"]) == (ExitStatus.REJECTED, "accessDenied")
    ran, answer = await expire(tenants, referral_id, "--tenant", "org-a", "--reason", "stale")
    assert (ran.status, answer["outcome"], answer["topic"]) == (
        ExitStatus.OK,
        "applied",
        tenants.commands_topic,
    )
    shown = await referrals(tenants, "--json", "show", referral_id, "--tenant", "org-a")
    document = shown.json_lines()[0]
    assert (document["status"], document["substatus"], document["statusReason"]) == (
        "Closed",
        "Expired",
        "stale",
    )


async def test_a_tenantless_referral_needs_no_secret(tenants: Settings) -> None:
    referral_id = await created(tenants, None)
    keyless = tenants.model_copy(update={"expiry_secret": None, "database_url": SecretStr(
        "sqlite:////nonexistent/referrals.db"
    )})  # fmt: skip
    ran, answer = await expire(keyless, referral_id)
    assert (ran.status, answer["outcome"]) == (ExitStatus.OK, "applied")


async def test_without_a_secret_or_a_store_to_read_it_from_nothing_is_sent(
    tenants: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.db"
    keyless = tenants.model_copy(update={"expiry_secret": None})
    ran = await referrals(
        keyless, "expire", "r-1", "--tenant", "org-a", "-d", f"sqlite:///{missing}"
    )
    assert ran.status == ExitStatus.STORE_UNAVAILABLE
    assert "REFERRALS_EXPIRY_SECRET" in ran.assert_one_error_line()
    assert not missing.exists()
