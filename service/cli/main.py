"""The ``referrals`` command: its global options, its commands, and how it ends.

Whatever goes wrong ends in one line on stderr and a documented exit status
(``service.cli.exits``); ``--debug`` shows the traceback instead.
"""

import logging
import os
import sys
from collections.abc import Sequence

import click

from service import logs
from service.cli import dlq, events, expire, migrate, send, serve, views, webhooks
from service.cli.context import Cli, OutputClosed
from service.cli.exits import ExitStatus, classify

PROG = "referrals"


@click.group(
    name=PROG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="referral-lifecycle", prog_name=PROG)
@click.option(
    "-b",
    "--bootstrap-server",
    "bootstrap_servers",
    metavar="HOST:PORT[,...]",
    help="Kafka bootstrap servers (overrides REFERRALS_KAFKA_BOOTSTRAP_SERVERS).",
)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object per line.")
@click.option("--debug", is_flag=True, help="Show tracebacks and the Kafka client's logs.")
@click.pass_context
def cli(ctx: click.Context, bootstrap_servers: str | None, json_output: bool, debug: bool) -> None:
    """Run the referral lifecycle service, and talk to it over Kafka.

    Settings come from REFERRALS_* environment variables (see the README).
    Shell completion: eval "$(_REFERRALS_COMPLETE=bash_source referrals)" (or zsh_source).
    """
    options = ctx.ensure_object(Cli)
    options.bootstrap_servers = bootstrap_servers
    options.json = json_output  # a command's own --json, parsed later, may set it too
    options.debug = debug
    if debug:
        logs.configure("DEBUG")  # `run` and `dev` configure their own logging again
        logging.getLogger("aiokafka").setLevel(logging.INFO)
    else:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # errors are ours to report


for module in (serve, migrate, send, events, dlq, expire, views, webhooks):
    for command in module.COMMANDS:
        cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    options = Cli()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args, prog_name=PROG, standalone_mode=False, obj=options)
    except click.exceptions.Abort:
        return ExitStatus.INTERRUPTED
    except OutputClosed:
        return _stdout_gone()
    except Exception as error:
        if options.debug:
            raise
        status, report = classify(error, options.used_bootstrap_servers)
        click.echo(report, err=True)
        return status
    return int(result) if isinstance(result, int) else ExitStatus.OK


def _stdout_gone() -> int:
    # Point stdout at nothing, so the interpreter's final flush does not fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return ExitStatus.BROKEN_PIPE
