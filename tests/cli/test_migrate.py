"""``referrals migrate`` on SQLite: it creates the file with this version's schema, which
``show`` (a reader that never creates one) then reads; a store that does not answer is
tried again for ``--wait`` seconds, then refused."""

import time
from pathlib import Path

from pydantic import SecretStr

from service.broker import free_port
from service.cli.exits import ExitStatus
from service.settings import Settings
from service.store.sqlite_schema import SCHEMA_VERSION
from tests.support.cli_runner import referrals


async def test_migrate_creates_the_sqlite_store_that_show_then_reads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'referrals.db'}"
    settings = Settings(database_url=SecretStr(url))
    before = await referrals(settings, "show", "r-1")
    assert before.status == ExitStatus.STORE_UNAVAILABLE
    assert not (tmp_path / "data").exists()

    migrated = await referrals(settings, "--json", "migrate")
    assert migrated.status == ExitStatus.OK, migrated
    assert migrated.json_lines() == [
        {"store": "sqlite", "database": url, "schemaVersion": SCHEMA_VERSION}
    ]
    assert (await referrals(settings, "show", "r-1")).status == ExitStatus.NOT_FOUND


async def test_migrate_waits_for_a_store_that_does_not_answer_then_gives_up() -> None:
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/referrals"
    started = time.monotonic()
    ran = await referrals(Settings(), "migrate", "-d", nobody, "--wait", "1.5", within=30)
    assert time.monotonic() - started >= 1.5
    assert ran.status == ExitStatus.STORE_UNAVAILABLE
    lines = ran.stderr.strip().splitlines()
    assert len(lines) >= 2
    assert all("unreachable" in line for line in lines), ran.stderr
    assert "trying again" in lines[0]
    assert "trying again" not in lines[-1]
