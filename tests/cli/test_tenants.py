"""The CLI in multi-tenant mode: a tenant's command sent to its own topic, read back as
that tenant's referral, and invisible to everyone else."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.broker import EmbeddedBroker
from service.cli.exits import ExitStatus
from service.settings import Settings
from tests.support.cli_runner import referrals
from tests.support.services import isolated_settings, running

pytestmark = pytest.mark.broker
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
async def tenants_service(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Settings]:
    plain = isolated_settings(broker.bootstrap_servers, tmp_path / "referrals.db")
    topics = {"org-a": f"{plain.commands_topic}.org-a"}
    async with running(plain.model_copy(update={"tenant_topics": topics})) as ready:
        yield ready


async def test_a_tenant_sends_to_its_topic_and_only_its_own_show_finds_it(
    tenants_service: Settings,
) -> None:
    topic = tenants_service.tenant_topics["org-a"]
    sent = await referrals(
        tenants_service, "send", str(EXAMPLES / "referral.json"), "--subject", "t1",
        "--topic", topic,
    )  # fmt: skip
    assert sent.status == ExitStatus.OK, sent
    mine = await referrals(tenants_service, "--json", "show", "t1", "--tenant", "org-a")
    assert (mine.status, mine.json_lines()[0]["id"]) == (ExitStatus.OK, "t1")
    for others in (["--tenant", "org-b"], []):
        hidden = await referrals(tenants_service, "show", "t1", *others)
        assert hidden.status == ExitStatus.NOT_FOUND
