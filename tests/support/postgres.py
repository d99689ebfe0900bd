"""PostgreSQL databases for the tests: a fresh database per use, on the server at
REFERRALS_TEST_POSTGRES_URL (default: the local server, user postgres, database test).

A test that needs the server fails when it is unreachable; it never skips, so a CI run
without PostgreSQL cannot pass. Such a test carries the ``postgres`` marker, so that
``pytest -m "not postgres"`` runs without a server; a database asked for by an unmarked
test is refused, so a missing marker shows up even where the server is running.
"""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg

ADMIN_URL = os.environ.get(
    "REFERRALS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

_running_test_is_marked = False


def database_url(name: str) -> str:
    """The URL of the database ``name`` on the test server."""
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def mark_running_test(*, postgres: bool) -> None:
    """Record whether the test being set up carries the ``postgres`` marker."""
    global _running_test_is_marked
    _running_test_is_marked = postgres


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A database created for the block and dropped after it; yields its URL."""
    if not _running_test_is_marked:
        raise AssertionError(
            "a test using the PostgreSQL server must carry the postgres marker "
            '(so that `pytest -m "not postgres"` runs without a server)'
        )
    name = f"referrals_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield database_url(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
