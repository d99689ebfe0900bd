"""Fixtures shared by every test folder: a fresh PostgreSQL database per test.

The server is the one at REFERRALS_TEST_POSTGRES_URL (default: the local server, user
postgres, database test). A test that needs it fails when it is unreachable; it never
skips, so a CI run without PostgreSQL cannot pass.
"""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

ADMIN_URL = os.environ.get(
    "REFERRALS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def database_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A database created for the block and dropped after it; yields its URL."""
    name = f"referrals_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield database_url(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_database() as url:
        yield url
