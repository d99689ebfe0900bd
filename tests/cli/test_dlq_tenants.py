"""``referrals dlq redrive`` in multi-tenant mode: a dead letter from tenant A's topic goes
back to A's topic, so it acts as A or is refused, never as tenant B nor tenant-less;
whatever the letter or its replacement declares, and whichever topic is asked for."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from service.broker import EmbeddedBroker
from service.cli.exits import ExitStatus
from service.client.connection import header_text
from service.client.dlq import REDRIVE_OF
from service.client.reader import Start, read_topic
from service.dead_letters import ERROR_CODE, ORIGINAL_OFFSET, ORIGINAL_PARTITION, ORIGINAL_TOPIC
from service.settings import Settings
from tests.support.cli_runner import Ran, referrals
from tests.support.kafka_io import Producer, collect, command
from tests.support.services import isolated_settings, running

pytestmark = [pytest.mark.broker, pytest.mark.asyncio(loop_scope="module")]

DOCUMENT = {"name": "Tenant A's referral", "customerProfile": {"address": {"country": "US"}}}
TENANTS = ("org-a", "org-b")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tenants(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    plain = isolated_settings(
        broker.bootstrap_servers, tmp_path_factory.mktemp("store") / "referrals.db"
    )
    topics = {tenant: f"{plain.commands_topic}.{tenant}" for tenant in TENANTS}
    async with running(plain.model_copy(update={"tenant_topics": topics})) as ready:
        yield ready


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def letters(tenants: Settings) -> dict[str, str]:
    """Dead letters from org-a's topic, by subject -> their addresses: two creates with a
    typo in their type (the second declaring org-b), and two creates a newer service would
    read (planted as the service writes dead letters; the second declaring org-b)."""
    a_topic = tenants.tenant_topics["org-a"]
    async with Producer(tenants, a_topic) as tenant_a, Producer(tenants, tenants.dlq_topic) as dlq:
        await tenant_a.structured(command("referral.craete", "mt-typo", DOCUMENT))
        await tenant_a.structured(
            command("referral.craete", "mt-typo-b", DOCUMENT, tenantid="org-b")
        )
        plain = command("referral.create", "mt-plain", DOCUMENT)
        await dlq.raw(json.dumps(plain).encode(), b"mt-plain", _as_dead(a_topic, 1))
        forged = command("referral.create", "mt-plain-b", DOCUMENT, tenantid="org-b")
        await dlq.raw(json.dumps(forged).encode(), b"mt-plain-b", _as_dead(a_topic, 2))
    found = await collect(tenants, [tenants.dlq_topic], lambda got: len(got) >= 4)
    return {_subject(record.value): f"{record.partition}:{record.offset}" for record in found}


def _as_dead(origin: str, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("content-type", b"application/cloudevents+json"),
        (ERROR_CODE, b"processing-failed"),
        (ORIGINAL_TOPIC, origin.encode()),
        (ORIGINAL_PARTITION, b"0"),
        (ORIGINAL_OFFSET, str(1000 + offset).encode()),
    ]


def _subject(value: bytes | None) -> str:
    assert value is not None
    return str(json.loads(value)["subject"])


def corrected(tmp_path: Path, subject: str, **attributes: Any) -> str:
    """A whole corrected envelope (a create) in a file."""
    path = tmp_path / f"{subject}.json"
    path.write_text(json.dumps(command("referral.create", subject, DOCUMENT, **attributes)))
    return str(path)


async def redrive(settings: Settings, *args: str) -> tuple[Ran, list[Any]]:
    ran = await referrals(settings, "--json", "dlq", "redrive", *args)
    return ran, ran.json_lines()


async def owners(settings: Settings, referral_id: str) -> set[str | None]:
    """The tenants (None: tenant-less) in which ``referral_id`` exists."""
    found: set[str | None] = set()
    for tenant in (*TENANTS, None):
        scope = ["--tenant", tenant] if tenant else []
        shown = await referrals(settings, "show", referral_id, *scope)
        assert shown.status in (ExitStatus.OK, ExitStatus.NOT_FOUND), shown
        if shown.status == ExitStatus.OK:
            found.add(tenant)
    return found


async def test_a_replacement_acts_as_the_tenant_whose_topic_the_letter_came_from(
    tenants: Settings, letters: dict[str, str], tmp_path: Path
) -> None:
    a_topic = tenants.tenant_topics["org-a"]
    fixed = corrected(tmp_path, "mt-typo")  # no tenantid: the topic says whose it is
    ran, [line] = await redrive(tenants, letters["mt-typo"], "--replace", fixed)
    assert ran.status == ExitStatus.OK, ran
    assert (line["action"], line["outcome"], line["topic"]) == ("redriven", "applied", a_topic)
    assert {event["tenantid"] for event in line["events"]} == {"org-a"}
    assert await owners(tenants, "mt-typo") == {"org-a"}
    text = await referrals(tenants, "dlq", "redrive", letters["mt-typo"], "--replace", fixed)
    assert f"already redriven (to {a_topic} " in text.stdout

    forged = corrected(tmp_path, "mt-typo-b", tenantid="org-b")
    ran, [line] = await redrive(tenants, letters["mt-typo-b"], "--replace", forged)
    assert ran.status == ExitStatus.REJECTED, ran
    assert (line["outcome"], line["code"], line["topic"]) == ("rejected", "accessDenied", a_topic)
    assert await owners(tenants, "mt-typo-b") == set()


async def test_a_letter_redriven_as_it_came_acts_as_its_tenant_or_is_refused(
    tenants: Settings, letters: dict[str, str]
) -> None:
    a_topic = tenants.tenant_topics["org-a"]
    [planned] = (await redrive(tenants, letters["mt-plain-b"], "--dry-run"))[1]
    assert (planned["action"], planned["topic"]) == ("would-redrive", a_topic)

    ran, [line] = await redrive(tenants, letters["mt-plain"])
    assert (ran.status, line["topic"], line["outcome"]) == (ExitStatus.OK, a_topic, "applied")
    assert await owners(tenants, "mt-plain") == {"org-a"}

    ran, [line] = await redrive(tenants, letters["mt-plain-b"])
    assert ran.status == ExitStatus.REJECTED, ran
    assert (line["topic"], line["code"]) == (a_topic, "accessDenied")
    assert await owners(tenants, "mt-plain-b") == set()


async def test_a_tenants_letter_is_never_sent_to_another_topic(
    tenants: Settings, letters: dict[str, str]
) -> None:
    elsewhere = (tenants.commands_topic, tenants.tenant_topics["org-b"])
    for topic in elsewhere:
        named = await referrals(tenants, "dlq", "redrive", letters["mt-typo"], "--topic", topic)
        assert named.status == ExitStatus.BAD_INPUT, named
        assert "a tenant's" in named.assert_one_error_line()
        assert named.stdout == ""
    ran, lines = await redrive(tenants, "--all", "--topic", tenants.commands_topic, "--dry-run")
    assert ran.status == ExitStatus.SKIPPED, ran
    assert {line["action"] for line in lines} == {"skipped"}
    assert {line["deadLetter"] for line in lines} == set(letters.values())
    for topic in elsewhere:  # read to their end: no redrive ever went there
        async for record in read_topic(tenants, topic, Start()):
            assert header_text(record, REDRIVE_OF) is None, topic
