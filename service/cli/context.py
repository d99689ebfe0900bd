"""What every command shares: the global options, the settings they override, and output
as readable lines or as one JSON object per line (``--json``)."""

import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from service.cli.exits import CliError, ExitStatus
from service.jsonio import JsonRefused, dumps, loads
from service.settings import Settings

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Cli:
    bootstrap_servers: str | None = None
    json: bool = False
    debug: bool = False
    #: The bootstrap servers of the settings last read, to name them in an error.
    used_bootstrap_servers: str | None = None

    def settings(self) -> Settings:
        """The ``REFERRALS_*`` settings, with ``-b`` over the bootstrap servers."""
        given: dict[str, Any] = {}
        if self.bootstrap_servers:
            given["kafka_bootstrap_servers"] = self.bootstrap_servers
        settings = Settings(**given)
        self.used_bootstrap_servers = settings.kafka_bootstrap_servers
        return settings

    def emit(self, record: Mapping[str, Any], text: str | None = None) -> None:
        """One record: a JSON line with ``--json``, else the text (when there is one)."""
        if self.json:
            echo(dumps(record).decode())
        elif text is not None:
            echo(text)


class OutputClosed(Exception):
    """The reader of stdout went away (``referrals events | head``)."""


def echo(text: str) -> None:
    """A line on stdout; a closed pipe ends the command quietly instead of failing."""
    try:
        click.echo(text)
    except BrokenPipeError:
        raise OutputClosed from None


pass_cli = click.make_pass_decorator(Cli, ensure=True)

timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for all outcomes.",
)


database_url_option = click.option(
    "-d",
    "--database-url",
    metavar="URL",
    help="sqlite:///path or postgresql://... (overrides REFERRALS_DATABASE_URL).",
)


def json_option(command: F) -> F:
    """``--json`` on the command too, so it may follow the command's name."""

    def enable(ctx: click.Context, _: click.Parameter, value: bool) -> None:
        if value:
            ctx.ensure_object(Cli).json = True

    decorated = click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        callback=enable,
        help="Print one JSON object per line.",
    )(command)
    return decorated


def run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


def read_json(name: str) -> Any:
    """A JSON file, ``-`` for stdin; unreadable or invalid input is a BAD_INPUT error."""
    try:
        return loads(read_bytes(name))
    except JsonRefused as error:
        raise CliError(ExitStatus.BAD_INPUT, f"{name}: {error}") from None


def read_bytes(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as error:
        raise CliError(ExitStatus.BAD_INPUT, f"cannot read {name}: {error.strerror}") from None
