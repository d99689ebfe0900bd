"""``referrals webhooks list|show|replay``: the webhook registrations in the store, a
tenant's recent deliveries, and the replay that makes a failing endpoint's parked
deliveries due again (and its registration active). A tenant-less registration is named
``''``. Reads and writes the store of ``REFERRALS_DATABASE_URL`` (or ``-d``)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import click

from service.cli.context import Cli, json_option, pass_cli, run
from service.store import Store, open_store

T = TypeVar("T")
database_option = click.option(
    "-d", "--database-url", metavar="URL", help="The store (overrides REFERRALS_DATABASE_URL)."
)


def _with_store(cli: Cli, database_url: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    url = database_url or cli.settings().database_url.get_secret_value()

    async def opened() -> T:
        store = open_store(url)
        try:
            await store.open(migrate=False)
            return await work(store)
        finally:
            await store.close()

    return run(opened())


@click.group()
def webhooks() -> None:
    """Webhook registrations and their deliveries."""


@webhooks.command(name="list")
@database_option
@json_option
@pass_cli
def list_registrations(cli: Cli, /, database_url: str | None) -> None:
    """Every registration: tenant, state, URL and events."""
    for r in _with_store(cli, database_url, lambda store: store.registrations()):
        record = {"tenant": r.tenant, "state": r.state, "url": r.url, "events": list(r.events)}
        named = r.tenant or "''"
        cli.emit(record, f"{named}\t{r.state}\t{r.url}\t{','.join(r.events)}")


@webhooks.command()
@click.argument("tenant")
@click.option("--limit", default=20, show_default=True, help="Deliveries shown, newest first.")
@database_option
@json_option
@pass_cli
def show(cli: Cli, /, tenant: str, limit: int, database_url: str | None) -> None:
    """A tenant's most recent deliveries: state, attempts, next attempt, last error."""
    rows = _with_store(cli, database_url, lambda store: store.deliveries(tenant, limit))
    for row in rows:
        record = {
            "id": row.id, "referralId": row.referral_id, "event": row.event,
            "state": row.state, "attempts": row.attempts,
            "nextAttempt": row.next_attempt.isoformat(), "lastError": row.last_error,
        }  # fmt: skip
        cli.emit(record, "\t".join(str(value) for value in record.values()))


@webhooks.command()
@click.argument("tenant")
@database_option
@json_option
@pass_cli
def replay(cli: Cli, /, tenant: str, database_url: str | None) -> None:
    """Make the tenant's parked deliveries due now and its registration active again."""
    now = datetime.now(UTC)
    count = _with_store(cli, database_url, lambda store: store.replay(tenant, now))
    cli.emit({"tenant": tenant, "replayed": count}, f"{count} deliveries replayed")


COMMANDS = (webhooks,)
