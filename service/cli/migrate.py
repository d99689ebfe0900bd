"""``referrals migrate``: create or upgrade the store's schema, once, and nothing else.

Besides ``referrals run`` (which migrates at start unless ``REFERRALS_DATABASE_MIGRATE`` is
false), this is the one command that changes the schema: a deployment runs it once per
release, as the role that owns the tables, before the replicas start, so the replicas'
role needs only to read and write rows, and a reader's only to read them.
"""

import asyncio
import time

import click
from pydantic import SecretStr

from service.cli.context import Cli, database_url_option, json_option, pass_cli, run
from service.cli.exits import ExitStatus
from service.errors import StoreUnavailable, backoff
from service.settings import Settings
from service.startup import store_of
from service.store import migrations, store_backend
from service.store.sqlite_schema import SCHEMA_VERSION as SQLITE_SCHEMA_VERSION


@click.command()
@database_url_option
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Keep trying a store that does not answer for this long (one starting beside it).",
)
@json_option
@pass_cli
def migrate(cli: Cli, /, database_url: str | None, wait_seconds: float) -> int:
    """Create or upgrade the store's schema to this version's, then exit."""
    settings = cli.settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": SecretStr(database_url)})
    run(_migrated(settings, wait_seconds))
    backend = store_backend(settings.database_url.get_secret_value())
    version = len(migrations.MIGRATIONS) if backend == "postgresql" else SQLITE_SCHEMA_VERSION
    where = settings.describe()["database_url"]
    cli.emit(
        {"store": backend, "database": where, "schemaVersion": version},
        f"the {backend} store {where} is at schema version {version}",
    )
    return ExitStatus.OK


async def _migrated(settings: Settings, wait_seconds: float) -> None:
    """Open the store migrating, then close it; a store that does not answer is tried again
    until ``wait_seconds`` have passed. A refusal (a newer schema, a role without the
    privilege) is final at once."""
    deadline = time.monotonic() + wait_seconds
    delays = backoff(settings.retry_initial_seconds, settings.retry_max_seconds)
    while True:
        store = store_of(settings)
        try:
            await store.open(migrate=True)
            return
        except StoreUnavailable as error:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            click.echo(f"referrals: {error}; trying again for {left:.1f}s more", err=True)
            await asyncio.sleep(min(next(delays), left))  # a retry schedule, not a sync
        finally:
            await store.close()


COMMANDS = (migrate,)
