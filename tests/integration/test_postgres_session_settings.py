"""The store's PostgreSQL session settings (statements planned at each call, a bound on row
lock waits) go as startup parameters; a pooler may drop them. Once its pool is open the
store asks the server what it took and logs each setting that is not in effect, with the
statement that sets it on the role; set on the role or the database, they hold without
startup parameters."""

import logging

import asyncpg
import pytest

from service.store.postgres_pool import PostgresBounds, PostgresPool

pytestmark = pytest.mark.postgres

_WARNING = "a PostgreSQL session setting of the store is not in effect"


class Dropped(PostgresPool):
    """A pool whose startup parameters a pooler dropped (``ignore_startup_parameters``)."""

    def startup_parameters(self) -> dict[str, str]:
        return {}


def _warned(caplog: pytest.LogCaptureFixture) -> dict[str, tuple[str, str | None, str]]:
    return {
        record.setting: (record.wanted, record.found, record.fix)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == _WARNING
    }


async def _open_and_close(pool: PostgresPool) -> None:
    await pool.open()
    await pool.close()


async def test_settings_sent_as_startup_parameters_are_in_effect_and_nothing_is_logged(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "service.store.postgres_pool")
    pool = PostgresPool(postgres_url, 1, PostgresBounds(statement=4.0))
    await pool.open()
    try:
        async with pool.connection() as db:
            assert await db.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
            assert await db.fetchval("SHOW lock_timeout") == "3s"
    finally:
        await pool.close()
    assert _warned(caplog) == {}


async def test_each_setting_a_pooler_dropped_is_logged_with_the_statement_that_sets_it(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "service.store.postgres_pool")
    await _open_and_close(Dropped(postgres_url, 1, PostgresBounds(statement=4.0)))
    assert _warned(caplog) == {
        "plan_cache_mode": (
            "force_custom_plan",
            "auto",
            "ALTER ROLE <the service's role> SET plan_cache_mode = 'force_custom_plan'",
        ),
        "lock_timeout": (
            "3000ms",
            "0ms",
            "ALTER ROLE <the service's role> SET lock_timeout = '3000ms'",
        ),
    }


async def test_settings_set_on_the_database_hold_without_startup_parameters(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = await asyncpg.connect(postgres_url)
    try:
        name = await db.fetchval("SELECT current_database()")
        # As an operator behind a pooler would: the statements the log names, run once.
        await db.execute(f"ALTER DATABASE \"{name}\" SET plan_cache_mode = 'force_custom_plan'")
        await db.execute(f"ALTER DATABASE \"{name}\" SET lock_timeout = '3000ms'")
    finally:
        await db.close()
    caplog.set_level(logging.WARNING, "service.store.postgres_pool")
    await _open_and_close(Dropped(postgres_url, 1, PostgresBounds(statement=4.0)))
    assert _warned(caplog) == {}
