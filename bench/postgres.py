"""The PostgreSQL server of the benchmark's second service run: a fresh database per run.

The admin connection is ``REFERRALS_BENCH_POSTGRES_URL`` (default: the local server, user
postgres, database test, as the tests use). ``probe`` checks, before anything is measured,
that the server answers and the role may create databases; ``fresh_database`` creates
``referrals_bench_<hex>`` and drops it ``WITH (FORCE)`` however the block ends.
"""

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

ADMIN_URL_VARIABLE = "REFERRALS_BENCH_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT = 10.0

_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class PostgresUnavailable(Exception):
    """The server cannot be reached, or will not create or drop the benchmark's database."""


@dataclass(frozen=True)
class Server:
    address: str
    version: str
    synchronous_commit: str
    fsync: str


def admin_url() -> str:
    return os.environ.get(ADMIN_URL_VARIABLE) or DEFAULT_ADMIN_URL


def address(url: str) -> str:
    """host:port of a URL, without credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def database_url(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name`` (credentials and options kept)."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def _failed(url: str, doing: str, error: BaseException) -> PostgresUnavailable:
    return PostgresUnavailable(
        f"PostgreSQL at {address(url)}: cannot {doing}: {type(error).__name__}: {error}"
    )


async def _probe(url: str) -> Server:
    db = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    try:
        allowed = await db.fetchval(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        if not allowed:
            raise PostgresUnavailable(
                f"PostgreSQL at {address(url)}: the role of the admin "
                "connection may not create databases"
            )
        return Server(
            address=address(url),
            version=str(await db.fetchval("SHOW server_version")).split(" ", 1)[0],
            synchronous_commit=str(await db.fetchval("SHOW synchronous_commit")),
            fsync=str(await db.fetchval("SHOW fsync")),
        )
    finally:
        await db.close()


def probe(url: str) -> Server:
    """The server behind the admin URL; ``PostgresUnavailable`` if it cannot be used."""
    try:
        return asyncio.run(_probe(url))
    except _FAILURES as error:
        raise _failed(url, "connect", error) from error


async def _execute(url: str, statement: str) -> None:
    db = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    try:
        await db.execute(statement)
    finally:
        await db.close()


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[tuple[str, str]]:
    """A database created for the block and dropped after it; yields its name and URL."""
    name = f"referrals_bench_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_execute(url, f'CREATE DATABASE "{name}"'))
    except _FAILURES as error:
        raise _failed(url, f"create database {name}", error) from error
    try:
        yield name, database_url(url, name)
    finally:
        try:
            asyncio.run(_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except _FAILURES as error:
            # Not raised: it would hide whatever ended the block; the name says what to drop.
            print(f"WARNING: {_failed(url, f'drop database {name}', error)}", file=sys.stderr)
