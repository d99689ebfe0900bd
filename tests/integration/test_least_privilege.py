"""Least privilege on PostgreSQL: only ``referrals migrate`` (and ``run``, unless told not
to) changes the schema. ``show`` and ``referrals api`` work under a role holding only
SELECT and refuse a schema that is not this version's, saying which, changing nothing;
``run`` without migrating works with the README's row grants; neither role may migrate.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from service.broker import EmbeddedBroker, free_port
from service.cli.exits import ExitStatus
from service.jsonio import loads
from service.settings import Settings
from service.store import PostgresStore
from service.store.migrations import MIGRATIONS
from state.fields import format_utc
from tests.support.cli_runner import PIPE, referrals, spawn
from tests.support.kafka_io import Producer, collect, command
from tests.support.postgres_roles import READER_GRANTS, WRITER_GRANTS, role_with
from tests.support.read_api import REFERRALS
from tests.support.services import isolated_settings, running
from tests.support.stored_referrals import created, store_new

pytestmark = pytest.mark.postgres

KEY = "key-org-a"


def _reading(url: str) -> Settings:
    """Settings of ``show`` and ``referrals api`` over the database at ``url``."""
    return Settings(
        database_url=SecretStr(url),
        http_port=free_port(),
        api_port=free_port(),
        api_keys=SecretStr(json.dumps({KEY: "org-a"})),
        log_level="INFO",
    )


async def _tables(url: str) -> list[str]:
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await db.close()
    return sorted(row["tablename"] for row in rows)


async def _migrated_with(url: str, *referral_ids: str) -> None:
    ran = await referrals(_reading(url), "--json", "migrate")
    assert ran.status == ExitStatus.OK, ran
    assert ran.json_lines() == [
        {"store": "postgresql", "database": url, "schemaVersion": len(MIGRATIONS)}
    ]
    store = PostgresStore(url)
    await store.open(migrate=False)
    try:
        await store_new(store, *(created(referral_id) for referral_id in referral_ids))
    finally:
        await store.close()


@pytest.fixture
async def api_child() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """``referrals api`` children started by the test, ended after it."""
    children: list[asyncio.subprocess.Process] = []
    yield children
    for child in children:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def _serving(settings: Settings, children: list[asyncio.subprocess.Process]) -> str:
    """Start ``referrals api``; its URL once it logs that it listens (within 30 s)."""
    child = await spawn(settings, "api", stdout=PIPE, stderr=PIPE)
    children.append(child)
    assert child.stderr is not None
    async with asyncio.timeout(30):
        while line := await child.stderr.readline():
            entry = loads(line) if line.startswith(b"{") else {}
            if entry.get("message") == "read API listening":
                return str(entry["url"])
    raise AssertionError(f"referrals api ended with {await child.wait()} before listening")


async def test_show_and_the_read_api_serve_under_a_role_holding_only_select(
    postgres_url: str, api_child: list[asyncio.subprocess.Process]
) -> None:
    await _migrated_with(postgres_url, "r-1", "r-2")
    async with role_with(postgres_url, READER_GRANTS) as reader:
        shown = await referrals(_reading(reader), "--json", "show", "r-1", "--tenant", "org-a")
        assert shown.status == ExitStatus.OK, shown
        assert shown.json_lines()[0]["id"] == "r-1"

        url = await _serving(_reading(reader), api_child)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            auth = {"Authorization": f"Bearer {KEY}"}
            one = await http.get(f"{REFERRALS}/r-2", headers=auth)
            page = await http.get(REFERRALS, headers=auth)
        assert one.status_code == 200, one.text
        assert one.json()["id"] == "r-2"
        assert page.status_code == 200, page.text
        assert sorted(item["id"] for item in page.json()["value"]) == ["r-1", "r-2"]
        api_child[0].terminate()
        assert await asyncio.wait_for(api_child[0].wait(), 30) == 0

        refused = await referrals(_reading(reader), "migrate")
        assert refused.status == ExitStatus.STORE_UNAVAILABLE
        assert "permission denied" in refused.assert_one_error_line()


async def test_an_empty_database_is_refused_by_show_and_the_api_and_stays_empty(
    postgres_url: str,
) -> None:
    settings = _reading(postgres_url)  # the owner's: they could create, and must not
    shown = await referrals(settings, "show", "r-1")
    served = await referrals(settings, "api")
    for ran in (shown, served):
        assert ran.status == ExitStatus.CONFIGURATION, ran
        line = ran.assert_one_error_line()
        assert "has no schema" in line
        assert "run `referrals migrate` to create it" in line
    assert await _tables(postgres_url) == []


@pytest.mark.parametrize(
    ("version", "said"),
    [(1, "it is older: run `referrals migrate`"), (len(MIGRATIONS) + 1, "it is newer")],
)
async def test_a_schema_of_another_version_is_refused_saying_which(
    postgres_url: str, version: int, said: str
) -> None:
    db = await asyncpg.connect(postgres_url)
    try:
        for statement in MIGRATIONS[0]:
            await db.execute(statement)
        await db.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY)")
        await db.execute("INSERT INTO schema_migrations VALUES ($1)", version)
    finally:
        await db.close()
    before = await _tables(postgres_url)
    settings = _reading(postgres_url)
    for ran in (await referrals(settings, "show", "r-1"), await referrals(settings, "api")):
        assert ran.status == ExitStatus.CONFIGURATION, ran
        line = ran.assert_one_error_line()
        assert f"schema version {version}, not this service's {len(MIGRATIONS)}" in line
        assert said in line
    assert await _tables(postgres_url) == before

    migrated = await referrals(settings, "migrate")
    if version == 1:
        assert migrated.status == ExitStatus.OK, migrated
        assert (await referrals(settings, "show", "r-1")).status == ExitStatus.NOT_FOUND
    else:
        assert migrated.status == ExitStatus.CONFIGURATION
        assert "newer than this service's" in migrated.assert_one_error_line()


@pytest.mark.broker
async def test_run_without_migrating_works_with_the_row_grants_alone(
    postgres_url: str, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    await _migrated_with(postgres_url)
    async with role_with(postgres_url, WRITER_GRANTS) as writer:
        settings = isolated_settings(
            broker.bootstrap_servers,
            tmp_path / "unused.db",
            database_url=writer,
            database_migrate=False,
            expiry_interval_seconds=0.2,
        )
        referral_id = f"due-{uuid.uuid4()}"
        due = {"expirationDateTime": format_utc(datetime.now(UTC) + timedelta(seconds=1))}
        async with running(settings), Producer(settings) as producer:
            await producer.structured(command("referral.create", referral_id, due))
            events = await collect(
                settings,
                [settings.events_topic],
                lambda got: any(e.header("ce_type") == "referral.expired" for e in got),
                within=30,
            )
        assert [e.header("ce_type") for e in events] == ["referral.created", "referral.expired"]

        refused = await referrals(settings, "migrate")
        assert refused.status == ExitStatus.STORE_UNAVAILABLE
        assert "permission denied" in refused.assert_one_error_line()


async def test_run_told_not_to_migrate_refuses_an_empty_database_and_leaves_it_empty(
    postgres_url: str,
) -> None:
    settings = Settings(
        database_url=SecretStr(postgres_url), database_migrate=False, http_port=free_port()
    )
    ran = await referrals(settings, "run")
    assert ran.status == ExitStatus.CONFIGURATION, ran
    assert "has no schema" in ran.stderr.strip().splitlines()[-1]
    assert await _tables(postgres_url) == []


async def test_run_under_a_role_that_may_not_migrate_ends_at_once_saying_why(
    postgres_url: str,
) -> None:
    """The schema is missing and the role cannot create it: no retry can help, so the
    service ends (for its supervisor to report) instead of retrying for ever."""
    async with role_with(postgres_url, WRITER_GRANTS) as writer:
        settings = Settings(database_url=SecretStr(writer), http_port=free_port())
        ran = await referrals(settings, "run")
    assert ran.status == ExitStatus.STORE_UNAVAILABLE, ran
    assert "permission denied" in ran.stderr.strip().splitlines()[-1]
    assert await _tables(postgres_url) == []
