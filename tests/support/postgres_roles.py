"""PostgreSQL login roles holding only what one component of the service needs, made for a
test in its own database and dropped after it.

The grants are the README's ("Who may read and write the store"), word for word: a reader
(``show``, ``referrals api``) holds SELECT; a writer (``run`` with
``REFERRALS_DATABASE_MIGRATE=false``) reads and writes rows; neither may create anything.
Roles are cluster-wide, so each gets a unique name and is dropped, with its grants,
whatever the test did.
"""

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from tests.support.postgres import ADMIN_URL

#: Before PostgreSQL 15 every role may create in the public schema; the owner alone may.
_NO_CREATE_FOR_OTHERS = "REVOKE CREATE ON SCHEMA public FROM PUBLIC"

READER_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT SELECT ON TABLES TO {role}",
)
WRITER_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
    " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE ON SEQUENCES TO {role}",
)


def as_role(database_url: str, role: str) -> str:
    """``database_url`` (of the test server) with ``role`` as its user (trust auth)."""
    scheme, _, rest = database_url.partition("://")
    _, _, host = rest.rpartition("@")
    return f"{scheme}://{role}@{host}"


@contextlib.asynccontextmanager
async def role_with(database_url: str, grants: tuple[str, ...]) -> AsyncIterator[str]:
    """A login role holding ``grants`` in the database at ``database_url`` (whose user owns
    what the migrations create) for the block; yields that database's URL as the role."""
    role = f"referrals_role_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            await _grant(database_url, role, grants)
            yield as_role(database_url, role)
        finally:
            await _revoke_everything(database_url, role)
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        await admin.close()


async def _grant(database_url: str, role: str, grants: tuple[str, ...]) -> None:
    db = await asyncpg.connect(database_url)
    try:
        owner = await db.fetchval("SELECT current_user")
        await db.execute(_NO_CREATE_FOR_OTHERS)
        for grant in grants:
            await db.execute(grant.format(role=f'"{role}"', owner=f'"{owner}"'))
    finally:
        await db.close()


async def _revoke_everything(database_url: str, role: str) -> None:
    db = await asyncpg.connect(database_url)
    try:
        # Its sessions first: a role still connected cannot be dropped cleanly.
        await db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await db.execute(f'DROP OWNED BY "{role}"')
    finally:
        await db.close()
