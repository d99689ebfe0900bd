"""The ``referrals`` command line: run the service, run it embedded, and talk to it."""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service import dead_letters, logs
from service.app import serve
from service.broker import EmbeddedBroker
from service.client import describe_event, envelope_for, follow_events, send_and_wait
from service.codec import STRUCTURED_CONTENT_TYPE
from service.contract import asyncapi, json_schemas
from service.errors import ConfigurationError
from service.jsonio import dumps, loads
from service.settings import Settings
from service.store import open_store

EXIT_REJECTED, EXIT_DEAD_LETTERED, EXIT_TIMEOUT, EXIT_NOT_FOUND = 2, 3, 4, 5

DEV_BANNER = """\
referral lifecycle service (embedded): broker {bootstrap}, store {database}

  publish a referral and wait for its events:
    referrals send examples/referral.json
    referrals send --type referral.accept --subject <referral id>
  with any Kafka client: produce a CloudEvents JSON envelope to '{commands}' with the header
    content-type: {content_type}   (see examples/create-command.json)
  follow events:   referrals events --follow
  show a referral: referrals show <referral id>
  metrics:         http://{http_host}:{http_port}/metrics   readiness: /readyz

Ctrl-C stops the service and the broker.
"""


#: Exit status when the settings or the data cannot work (sysexits' EX_CONFIG).
EXIT_CONFIGURATION = 78


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            return int(args.handler(args) or 0)
        except ConfigurationError as error:
            print(f"referrals: {error}", file=sys.stderr)
            return EXIT_CONFIGURATION
    return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="referrals", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the service with settings from REFERRALS_*")
    run.set_defaults(handler=_run)

    dev = commands.add_parser("dev", help="run an embedded broker, SQLite and the service")
    dev.add_argument("--port", type=int, help="broker port (default: from the bootstrap setting)")
    dev.set_defaults(handler=_dev)

    send = commands.add_parser("send", help="publish a command and wait for its outcome")
    send.add_argument("file", nargs="?", help="JSON file, '-' for stdin; omit for no data")
    send.add_argument("--type", help="command type for bare data (default referral.create)")
    send.add_argument("--subject", help="referral id")
    send.add_argument("--if-match", help="expected eTag (ifmatch)")
    send.add_argument("--tenant", help="owning organization (tenantid)")
    send.add_argument("--correlation-id", help="correlation id")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    send.set_defaults(handler=_send)

    events = commands.add_parser("events", help="print events readably")
    events.add_argument("--follow", "-f", action="store_true", help="keep waiting for more")
    events.add_argument("--json", action="store_true", help="print each event as JSON")
    events.set_defaults(handler=_events)

    contract = commands.add_parser(
        "contract", help="print the AsyncAPI document, or write the JSON Schemas"
    )
    contract.add_argument(
        "--schemas", type=Path, metavar="DIR", help="write one JSON Schema file per message"
    )
    contract.set_defaults(handler=_contract)

    show = commands.add_parser("show", help="print the stored referral")
    show.add_argument("referral_id")
    show.add_argument("--tenant", help="the referral's tenant (default: a tenant-less referral)")
    show.set_defaults(handler=_show)
    return parser


def _run(args: argparse.Namespace) -> int:
    settings = Settings()
    logs.configure(settings.log_level)
    asyncio.run(serve(settings))
    return 0


def _dev(args: argparse.Namespace) -> int:
    settings = Settings()
    port = args.port or int(settings.kafka_bootstrap_servers.rsplit(":", 1)[-1])
    logs.configure(settings.log_level)
    with EmbeddedBroker(port=port) as broker:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap_servers})
        print(
            DEV_BANNER.format(
                bootstrap=broker.bootstrap_servers,
                database=settings.describe()["database_url"],
                commands=settings.commands_topic,
                content_type=STRUCTURED_CONTENT_TYPE,
                http_host=settings.http_host,
                http_port=settings.http_port,
            ),
            file=sys.stderr,
            flush=True,
        )
        asyncio.run(serve(settings))
    return 0


def _send(args: argparse.Namespace) -> int:
    settings = Settings()
    document = _read_json(args.file) if args.file else None
    extensions = {
        "ifmatch": args.if_match,
        "tenantid": args.tenant,
        "correlationid": args.correlation_id,
    }
    envelope = envelope_for(document, args.type, args.subject, extensions)
    outcome = asyncio.run(send_and_wait(settings, envelope, args.timeout))
    for event in outcome.events:
        print(describe_event(event))
    if outcome.rejection is not None:
        print(describe_event(outcome.rejection))
        for detail in outcome.rejection.get("data", {}).get("details", []):
            print(f"    {detail.get('target')}: {detail.get('message')}")
        return EXIT_REJECTED
    if outcome.dead_letter is not None:
        print(f"dead-lettered: {outcome.dead_letter.get(dead_letters.ERROR_CODE)}: "
              f"{outcome.dead_letter.get(dead_letters.ERROR_MESSAGE)}")  # fmt: skip
        return EXIT_DEAD_LETTERED
    if not outcome.settled:
        print(
            f"no outcome for command {outcome.command_id} within {args.timeout}s", file=sys.stderr
        )
        return EXIT_TIMEOUT
    if not outcome.events:
        print(f"command {outcome.command_id} acknowledged; it changed nothing")
    return 0


def _events(args: argparse.Namespace) -> int:
    async def follow() -> None:
        async for event in follow_events(Settings(), args.follow):
            print(dumps(event).decode() if args.json else describe_event(event), flush=True)

    asyncio.run(follow())
    return 0


def _show(args: argparse.Namespace) -> int:
    async def fetch() -> Any:
        store = open_store(Settings().database_url.get_secret_value())
        await store.open()
        try:
            return await store.get(args.referral_id, args.tenant)
        finally:
            await store.close()

    record = asyncio.run(fetch())
    if record is None:
        print(f"referral {args.referral_id} not found", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(dumps(record.referral.to_document(), pretty=True).decode())
    return 0


def _contract(args: argparse.Namespace) -> int:
    if args.schemas is None:
        print(dumps(asyncapi(Settings()), pretty=True).decode())
        return 0
    args.schemas.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (args.schemas / f"{name}.schema.json").write_bytes(dumps(schema, pretty=True) + b"\n")
    print(f"wrote {len(json_schemas())} schemas to {args.schemas}")
    return 0


def _read_json(name: str) -> Any:
    raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    return loads(raw)


if __name__ == "__main__":
    sys.exit(main())
