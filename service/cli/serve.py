"""``referrals run`` (production), ``referrals dev`` (embedded broker, SQLite, service) and
``referrals api`` (the read API alone).

``dev`` owns the terminal's signals: the broker runs in a process group of its own, so
Ctrl-C reaches only this process, which lets the service finish its batch, publish and
commit, and only then stops the broker. A second Ctrl-C while stopping changes nothing.
SIGTERM and SIGHUP (the terminal closed) stop it the same way, so the broker never
outlives it; the stop is requested before anything is printed, and nothing printed on the
way can fail, so it stops with stderr gone too. Killed outright (SIGKILL), it still takes
the broker with it: the broker is started to die with its parent. Each run starts fresh,
broker and store alike (``dev_state``), and its banner says so.
"""

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Final

import click

from service import logs
from service.api.auth import open_access
from service.app import serve_api
from service.broker import EmbeddedBroker, broker_binary
from service.cli.context import Cli, pass_cli, run
from service.cli.dev_state import FreshStart, start_fresh
from service.cli.exits import CliError, ExitStatus
from service.codec import STRUCTURED_CONTENT_TYPE
from service.runtime import tune_garbage_collection
from service.settings import Settings
from service.workers.parent import serve_service

DEV_BANNER = """\
referral lifecycle service (embedded): broker {bootstrap}, store {database}
{state}

  publish a referral and wait for its events:
    referrals send examples/referral.json
    referrals send --type referral.accept --subject <referral id>
  from your own code (aiokafka, confluent-kafka; Debian's kcat cannot connect to this
  broker): produce a CloudEvents JSON envelope to '{commands}' with the header
    content-type: {content_type}   (see examples/create-command.json)
  follow events:   referrals events --follow
  dead letters:    referrals dlq list
  show a referral: referrals show <referral id>
  metrics:         http://{http_host}:{http_port}/metrics   readiness: /readyz
{api}
Ctrl-C stops the service, then the broker.
"""
API_LINES = """\
  API:             {api_url}/v1.0/engagements/referrals/<referral id>
                   curl '{api_url}/v1.0/engagements/referrals?$top=10'
                   curl -H 'Content-Type: application/json' -d @examples/referral.json \\
                        {api_url}/v1.0/engagements/referrals      (a write: 201)
                   WITHOUT AUTHENTICATION (development mode): every tenant's referrals,
                   read and written
  webhooks:        {api_url}/webhooks/v1/registration (an http:// receiver on this
                   machine is accepted here, in development only)
"""
API_OFF = "  API:             off (REFERRALS_API_ENABLED=false)\n"
STOPPING = "referrals: stopping: finishing the batch and committing, then stopping the broker"


workers_option = click.option(
    "--workers",
    type=click.IntRange(0, 64),
    help="Worker processes consuming (overrides REFERRALS_WORKERS; default: the usable CPUs,"
    " capped by the commands topic's partitions); 1 runs the consume loop in this process.",
)


@click.command("run")
@workers_option
@pass_cli
def run_command(cli: Cli, /, workers: int | None) -> ExitStatus:
    """Run the service with the settings from REFERRALS_* (production)."""
    return _logged(cli, serve_service, workers)


def _settings(cli: Cli, workers: int | None) -> Settings:
    settings = cli.settings()
    if workers is None:
        return settings
    return settings.model_copy(update={"workers": workers})


def _logged(
    cli: Cli,
    main: Callable[[Settings], Coroutine[Any, Any, None]],
    workers: int | None = None,
) -> ExitStatus:
    """Run ``main`` with the settings, logging as they say, until it ends."""
    settings = _settings(cli, workers)
    logs.configure(settings.log_level)
    tune_garbage_collection()
    run(main(settings))
    return ExitStatus.OK


@click.command()
@click.option("--port", type=int, help="Broker port (default: from the bootstrap setting).")
@workers_option
@pass_cli
def dev(cli: Cli, /, port: int | None, workers: int | None) -> ExitStatus:
    """Run an embedded broker, SQLite and the service; Ctrl-C stops them cleanly."""
    settings = _settings(cli, workers)
    port = port or int(settings.kafka_bootstrap_servers.rsplit(":", 1)[-1])
    if _in_use(port):
        raise CliError(
            ExitStatus.CONFIGURATION,
            f"port {port} is in use (another broker?): choose one with --port or -b",
        )
    logs.configure(settings.log_level)
    broker_binary()  # the embedded extra is there, before the last run's store is touched
    fresh = run(start_fresh(settings.database_url.get_secret_value()))
    with EmbeddedBroker(port=port, die_with_parent=True) as broker:
        settings = _for_development(settings, broker.bootstrap_servers)
        say(_banner(settings, fresh))
        tune_garbage_collection()
        run(_serve_until_signalled(settings))
    return ExitStatus.OK


#: What development changes unless the environment sets it: a webhook receiver on this
#: machine, over plain HTTP, is what one tries webhooks with.
_DEVELOPMENT: Final = {"webhook_allow_http": True, "webhook_allow_private_targets": True}


def _for_development(settings: Settings, bootstrap: str) -> Settings:
    chosen = {k: v for k, v in _DEVELOPMENT.items() if k not in settings.model_fields_set}
    return settings.model_copy(update={**chosen, "kafka_bootstrap_servers": bootstrap})


def say(line: str) -> None:
    """A line on stderr that cannot fail: a stderr gone (the pipe's reader or the terminal
    closed) is replaced by the null device, so no later write, nor the flush at exit, fails."""
    try:
        click.echo(line, err=True)
    except (OSError, ValueError):  # ValueError: the stream was closed
        with contextlib.suppress(OSError):
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)


def _in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _banner(settings: Settings, fresh: FreshStart) -> str:
    return DEV_BANNER.format(
        bootstrap=settings.kafka_bootstrap_servers,
        database=settings.describe()["database_url"],
        state=fresh.describe(),
        commands=settings.commands_topic,
        content_type=STRUCTURED_CONTENT_TYPE,
        http_host=settings.http_host,
        http_port=settings.http_port,
        api=API_LINES.format(api_url=f"http://{settings.api_bind_host}:{settings.api_port}")
        if settings.api_enabled
        else API_OFF,
    )


async def _serve_until_signalled(settings: Settings) -> None:
    stop = asyncio.Event()

    def request_stop() -> None:
        if stop.is_set():
            return
        stop.set()  # first: nothing after it may keep the service from stopping
        say(STOPPING)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal closed
        loop.add_signal_handler(sig, request_stop)
    await serve_service(settings, stop, handle_signals=False, api_auth=open_access)


@click.command("api")
@pass_cli
def api_command(cli: Cli) -> ExitStatus:
    """Serve the read API alone over the store, on REFERRALS_API_PORT (no consumer)."""
    return _logged(cli, serve_api)


COMMANDS = (run_command, dev, api_command)
