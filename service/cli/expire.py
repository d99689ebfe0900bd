"""``referrals expire``: close a referral as Expired now, as the service's scheduler does.

The command goes to the shared commands topic. Naming a tenant, it is signed with the
expiry secret (``expirysignature``): in multi-tenant mode only a signed expiry acts as the
tenant it names, so only the service and an operator holding the secret expire another
tenant's referral. The secret is ``REFERRALS_EXPIRY_SECRET`` when set, else the one the
service keeps in its store, read without changing the store.
"""

import uuid

import click

from service.cli.context import Cli, json_option, pass_cli, run, timeout_option
from service.cli.exits import CliError, ExitStatus
from service.cli.send import exit_status, report_one
from service.client.envelopes import CLI_SOURCE
from service.client.outcomes import outgoing, send_and_wait
from service.expiry import expiry_key, signed_expire_command
from service.settings import Settings
from service.store import open_store
from service.store.sqlite import sqlite_path


@click.command()
@click.argument("referral_id")
@click.option("--tenant", metavar="TENANT", help="The referral's tenant (signed for).")
@click.option("--if-match", metavar="ETAG", help="Expected eTag (ifmatch): only that version.")
@click.option("--reason", metavar="TEXT", help="The statusReason the expiry records.")
@click.option(
    "-d",
    "--database-url",
    metavar="URL",
    help="The store keeping the expiry secret, when REFERRALS_EXPIRY_SECRET is not set"
    " (overrides REFERRALS_DATABASE_URL).",
)
@timeout_option
@json_option
@pass_cli
def expire(
    cli: Cli,
    /,
    referral_id: str,
    tenant: str | None,
    if_match: str | None,
    reason: str | None,
    database_url: str | None,
    timeout: float,
) -> int:
    """Expire a referral now, signed for its tenant with the expiry secret."""
    settings = cli.settings()
    key = _secret(settings, database_url) if tenant is not None else None
    envelope = signed_expire_command(
        str(uuid.uuid4()), CLI_SOURCE, referral_id, tenant, key, if_match=if_match, reason=reason
    )
    outcomes = run(send_and_wait(settings, [outgoing(envelope)], timeout))
    report_one(cli, outcomes[0], timeout)
    return exit_status(outcomes)


def _secret(settings: Settings, database_url: str | None) -> bytes:
    if settings.expiry_secret is not None:
        return settings.expiry_secret.get_secret_value().encode()
    url = database_url or settings.database_url.get_secret_value()
    if url.startswith("sqlite://") and not sqlite_path(url).is_file():
        raise CliError(
            ExitStatus.STORE_UNAVAILABLE,
            f"no SQLite store at {sqlite_path(url)} to read the expiry secret from"
            " (set REFERRALS_EXPIRY_SECRET, or check REFERRALS_DATABASE_URL or -d)",
        )
    return run(_stored_secret(settings, url))


async def _stored_secret(settings: Settings, url: str) -> bytes:
    store = open_store(url)
    try:
        await store.open(migrate=False)
        return await expiry_key(settings, store)
    finally:
        await store.close()


COMMANDS = (expire,)
