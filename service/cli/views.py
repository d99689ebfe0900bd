"""``referrals show`` (a stored referral) and ``referrals contract`` (AsyncAPI, schemas)."""

from pathlib import Path
from typing import Any

import click

from service.cli.context import Cli, database_url_option, echo, json_option, pass_cli, run
from service.cli.exits import CliError, ExitStatus
from service.contract import ASYNCAPI_VERSION, ASYNCAPI_VERSIONS, asyncapi, json_schemas
from service.jsonio import dumps
from service.store import open_store
from service.store.sqlite import sqlite_path


@click.command()
@click.argument("referral_id")
@database_url_option
@click.option(
    "--tenant",
    metavar="TENANT",
    help="The referral's tenant (default: a referral created without one).",
)
@json_option
@pass_cli
def show(cli: Cli, /, referral_id: str, database_url: str | None, tenant: str | None) -> int:
    """Print the stored referral, in Partner Center's shape."""
    url = database_url or cli.settings().database_url.get_secret_value()
    if url.startswith("sqlite://") and not sqlite_path(url).is_file():
        raise CliError(
            ExitStatus.STORE_UNAVAILABLE,
            f"no SQLite store at {sqlite_path(url)} (check REFERRALS_DATABASE_URL or -d)",
        )
    document = run(_stored(url, referral_id, tenant))
    if document is None:
        raise CliError(ExitStatus.NOT_FOUND, f"referral {referral_id} not found")
    echo(dumps(document, pretty=not cli.json).decode())
    return ExitStatus.OK


async def _stored(url: str, referral_id: str, tenant: str | None) -> Any:
    store = open_store(url)
    try:
        # A reader: it never creates or upgrades a schema, and needs only SELECT.
        await store.open(migrate=False)
        record = await store.get(referral_id, tenant)
    finally:
        await store.close()
    return None if record is None else record.referral.to_document()


@click.command()
@click.option(
    "--schemas",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write one JSON Schema file per message instead.",
)
@click.option(
    "--asyncapi-version",
    type=click.Choice(ASYNCAPI_VERSIONS),
    default=ASYNCAPI_VERSION,
    show_default=True,
    help="The AsyncAPI version the printed document declares (the content is the same).",
)
@pass_cli
def contract(cli: Cli, /, schemas: Path | None, asyncapi_version: str) -> int:
    """Print the AsyncAPI document, or write the JSON Schemas."""
    if schemas is None:
        echo(dumps(asyncapi(cli.settings(), asyncapi_version), pretty=True).decode())
        return ExitStatus.OK
    schemas.mkdir(parents=True, exist_ok=True)
    written = json_schemas()
    for name, schema in written.items():
        (schemas / f"{name}.schema.json").write_bytes(dumps(schema, pretty=True) + b"\n")
    echo(f"wrote {len(written)} schemas to {schemas}")
    return ExitStatus.OK


COMMANDS = (show, contract)
