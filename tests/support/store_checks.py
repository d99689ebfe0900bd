"""What a chaos scenario's store holds at its end, read straight from SQLite or PostgreSQL."""

import asyncio
import contextlib
import sqlite3

import asyncpg

from service.settings import Settings

SQLITE = "sqlite:///"


async def stored_versions(settings: Settings) -> tuple[dict[str, int], int]:
    """Each stored referral's version, and how many records the outbox still holds."""
    url = settings.database_url.get_secret_value()
    if url.startswith(SQLITE):
        with contextlib.closing(sqlite3.connect(url.removeprefix(SQLITE))) as db:
            versions = dict(db.execute("SELECT id, version FROM referrals").fetchall())
            backlog: int = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return versions, backlog
    connection = await asyncpg.connect(url)
    try:
        versions = dict(await connection.fetch("SELECT id, version FROM referrals"))
        backlog = await connection.fetchval("SELECT count(*) FROM outbox")
    finally:
        await connection.close()
    return versions, backlog


async def assert_store_matches(settings: Settings, versions: dict[str, int]) -> None:
    """The store holds exactly these referrals at these versions, and its outbox is empty."""
    stored, backlog = await stored_versions(settings)
    assert stored == versions
    assert backlog == 0


async def referrals_stored(settings: Settings, count: int, within: float = 60) -> None:
    """Wait until the store holds ``count`` referrals."""
    deadline = asyncio.get_running_loop().time() + within
    while len((await stored_versions(settings))[0]) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} referrals were not stored within {within}s")
        await asyncio.sleep(0.05)
