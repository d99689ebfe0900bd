"""The PostgreSQL store's connection pool, with every wait on the server bounded.

Opening a connection, waiting for one from the pool and each statement have a bound of
their own (``PostgresBounds``), so a database that stops answering (its host gone, a
black-holed network path) becomes ``StoreUnavailable`` within seconds instead of a wait
without end; readiness then reports the store unreachable. A connection whose statement
ran out of time is dropped, not given back: its server may never answer it again.

The session settings the store needs (``session_settings``) go as connection startup
parameters. A connection pooler may refuse them (PgBouncer: "unsupported startup
parameter") or be told to drop them (``ignore_startup_parameters``); once the pool is open
the store asks the server what it took, and a setting that did not arrive is logged with
the statement that sets it on the role instead (README, "Behind a connection pooler").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from service.errors import Component, StoreUnavailable, translated

if TYPE_CHECKING:  # the stubs' generics are not subscriptable at run time
    from asyncpg import Record
    from asyncpg.pool import Pool

    from service.store.migrations import Db

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PostgresBounds:
    """How long the store waits on PostgreSQL, in seconds (``REFERRALS_DATABASE_*``)."""

    #: Opening one connection (TCP, TLS and authentication).
    connect: float = 3.0
    #: Waiting for a connection of the pool, including opening it.
    acquire: float = 3.0
    #: One statement's round trip. A statement waits for a row lock for three quarters of
    #: it at most, so a lock held by a stalled replica fails on the server first.
    statement: float = 10.0
    #: One statement of a schema migration (a migration may fill a column of every row).
    migration: float = 600.0

    @property
    def lock_timeout(self) -> str:
        return f"{max(1, int(self.statement * 750))}ms"


class PostgresPool:
    """The store's connections. Each statement is planned at each call for the tables as
    they are then: after five calls the server may keep one plan for every later call (a
    generic plan), made from the statistics of that moment. On a new database that was a
    plan for empty tables, which went on scanning them whole once a backlog had filled
    them (a batch's load of one key: 5.3 ms at 20,000 rows, against 0.5 planned anew)
    until autovacuum analysed them, a minute or more later."""

    def __init__(self, url: str, size: int, bounds: PostgresBounds) -> None:
        self.url = url
        self.size = size
        self.bounds = bounds
        self._pool: Pool[Record] | None = None

    async def open(self) -> None:
        with translated(Component.STORE):
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.size,
                timeout=self.bounds.connect,
                command_timeout=self.bounds.statement,
                server_settings=self.startup_parameters(),
                reset=_keep_session,
            )
        await self._check_settings()

    def session_settings(self) -> dict[str, str]:
        """What every session of the store runs with: statements planned at each call (the
        class docstring says why) and row locks waited for within the statement's bound."""
        return {"lock_timeout": self.bounds.lock_timeout, "plan_cache_mode": "force_custom_plan"}

    def startup_parameters(self) -> dict[str, str]:
        """The session settings sent when a connection opens."""
        return self.session_settings()

    async def _check_settings(self) -> None:
        """Log each session setting the server did not take (a pooler dropped it)."""
        wanted = self.session_settings()
        async with self.connection() as db:
            rows = await db.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
                list(wanted),
            )
        found = {row["name"]: _with_unit(row["setting"], row["unit"]) for row in rows}
        for name, value in wanted.items():
            if found.get(name) != value:
                log.warning(
                    "a PostgreSQL session setting of the store is not in effect",
                    extra={
                        "setting": name,
                        "wanted": value,
                        "found": found.get(name),
                        "fix": f"ALTER ROLE <the service's role> SET {name} = '{value}'",
                    },
                )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                async with asyncio.timeout(self.bounds.acquire):
                    await pool.close()
            except Exception:  # a server that does not answer: its connections are dropped
                pool.terminate()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Db]:
        """A connection of the pool for the block; driver errors become service errors."""
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        with translated(Component.STORE):
            async with self._pool.acquire(timeout=self.bounds.acquire) as db:
                try:
                    yield db
                except (TimeoutError, asyncpg.exceptions._base.InternalClientError):
                    # Not given back to wait for the server's answer, or in a state the
                    # client no longer follows.
                    db.terminate()
                    raise

    async def fetch(self, sql: str, *args: object) -> list[Record]:
        async with self.connection() as db:
            return list(await db.fetch(sql, *args))


async def _keep_session(db: Db) -> None:
    """A released connection's session is kept as it is: the service changes no session
    state (its settings are SET LOCAL, its advisory lock transaction-scoped, and asyncpg
    rolls back a transaction left open), so the default reset's extra round trip (RESET
    ALL, UNLISTEN *, CLOSE ALL) on every release is saved."""


def _with_unit(setting: str, unit: str | None) -> str:
    """A setting as the store writes it (``lock_timeout``: milliseconds, ``7500ms``)."""
    return f"{setting}{unit}" if unit == "ms" else setting
