"""``referrals send``: publish one command, or many from NDJSON, and wait for the outcomes.

The exit status is that of the worst outcome: timed out, then dead-lettered, then
rejected; 0 when every command was applied or changed nothing. The sending is traced when
the ``OTEL_*`` variables configure an exporter, as the service's are
(``service.client.tracing``): the service's spans continue its trace.
"""

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from service.cli.context import (
    Cli,
    echo,
    json_option,
    pass_cli,
    read_bytes,
    read_json,
    run,
    timeout_option,
)
from service.cli.exits import CliError, ExitStatus
from service.client.describe import describe_event, rejection_details
from service.client.envelopes import EnvelopeConflict, envelope_for
from service.client.outcomes import (
    KINDS,
    AnswerKind,
    CommandAnswer,
    outgoing,
    send_and_wait,
    summary,
)
from service.client.tracing import SendTracing
from service.jsonio import JsonRefused, loads

#: Exit status of each outcome kind; the last kind (in KINDS) among the outcomes wins.
_STATUS = {
    AnswerKind.APPLIED: ExitStatus.OK,
    AnswerKind.NOOP: ExitStatus.OK,
    AnswerKind.REJECTED: ExitStatus.REJECTED,
    AnswerKind.DEAD_LETTERED: ExitStatus.DEAD_LETTERED,
    AnswerKind.TIMED_OUT: ExitStatus.TIMED_OUT,
}


@click.command()
@click.argument("file", required=False)
@click.option("--ndjson", metavar="FILE|-", help="Send one command per line (envelopes or data).")
@click.option("--type", "command_type", help="Command type for bare data [referral.create].")
@click.option("--subject", help="Referral id.")
@click.option("--if-match", help="Expected eTag (ifmatch).")
@click.option("--tenant", help="Owning organization (tenantid).")
@click.option("--correlation-id", help="Correlation id.")
@click.option(
    "--topic",
    metavar="TOPIC",
    help="Publish to this commands topic, e.g. a tenant's own (default: the shared one).",
)
@timeout_option
@json_option
@pass_cli
def send(cli: Cli, /, file: str | None, ndjson: str | None, timeout: float, **options: Any) -> int:
    """Publish a command and wait for its outcome.

    FILE is a JSON file ('-' for stdin): a CloudEvents envelope, or bare data that the
    options wrap (a referral document is a create). Omit it for a command without data.
    """
    if file is not None and ndjson is not None:
        raise click.UsageError("give FILE or --ndjson, not both")
    attributes = _attributes(options)
    if ndjson is not None:
        envelopes = list(_ndjson_envelopes(ndjson, attributes))
    else:
        envelopes = [_envelope(read_json(file) if file else None, attributes, "")]
    settings = cli.settings()
    if options["topic"]:
        settings = settings.model_copy(update={"commands_topic": options["topic"]})
    tracing = SendTracing.configured()
    try:
        with _progress(cli, len(envelopes)) as advance:
            commands = [outgoing(e) for e in envelopes]
            outcomes = run(send_and_wait(settings, commands, timeout, advance, tracing))
    finally:
        tracing.shutdown()  # exports the spans, as the OTEL_* variables say
    if ndjson is None:
        report_one(cli, outcomes[0], timeout)
    else:
        _report_many(cli, outcomes)
    return exit_status(outcomes)


def _attributes(options: dict[str, Any]) -> dict[str, str | None]:
    return {
        "type": options["command_type"],
        "subject": options["subject"],
        "ifmatch": options["if_match"],
        "tenantid": options["tenant"],
        "correlationid": options["correlation_id"],
    }


def _envelope(document: Any, attributes: dict[str, str | None], where: str) -> dict[str, Any]:
    try:
        return envelope_for(document, attributes)
    except EnvelopeConflict as error:
        raise CliError(ExitStatus.USAGE, f"{where}{error}") from None


def _ndjson_envelopes(name: str, attributes: dict[str, str | None]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(read_bytes(name).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}: "
        try:
            document = loads(line)
        except JsonRefused as error:
            raise CliError(ExitStatus.BAD_INPUT, f"{where}{error}") from None
        yield _envelope(document, attributes, where)


@contextlib.contextmanager
def _progress(cli: Cli, /, total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and there is more than one command."""
    if total < 2 or cli.json or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label="outcomes", file=sys.stderr) as bar:
        yield bar.update


def report_one(cli: Cli, /, outcome: CommandAnswer, timeout: float) -> None:
    if cli.json:
        cli.emit(outcome.to_json())
        return
    for event in outcome.events:
        echo(describe_event(event))
    if outcome.rejection is not None:
        echo(describe_event(outcome.rejection))
        for line in rejection_details(outcome.rejection):
            echo(line)
    elif outcome.dead_letter is not None:
        echo(f"dead-lettered: {outcome.code}: {outcome.dead_letter.get('x-error-message')}")
    elif outcome.kind is AnswerKind.TIMED_OUT:
        click.echo(
            f"referrals: no outcome for command {outcome.command_id} within {timeout}s", err=True
        )
    elif outcome.kind is AnswerKind.NOOP:
        echo(f"command {outcome.command_id} acknowledged; it changed nothing")


def _report_many(cli: Cli, /, outcomes: Sequence[CommandAnswer]) -> None:
    for number, outcome in enumerate(outcomes, start=1):
        if cli.json:
            cli.emit({"index": number, **outcome.to_json()})
        elif outcome.kind not in (AnswerKind.APPLIED, AnswerKind.NOOP):
            echo(f"#{number} {outcome.command_id}: {outcome.kind} {outcome.code or ''}")
    counts = summary(outcomes)
    cli.emit({"summary": counts}, _summary_line(len(outcomes), counts))


def _summary_line(total: int, counts: dict[str, Any]) -> str:
    def by_code(codes: dict[str, int]) -> str:
        inner = ", ".join(f"{code} {n}" for code, n in sorted(codes.items()))
        return f" ({inner})" if inner else ""

    return (
        f"{total} commands: {counts[AnswerKind.APPLIED]} applied, {counts[AnswerKind.NOOP]} no-op, "
        f"{counts['rejected']} rejected{by_code(counts['rejectedByCode'])}, "
        f"{counts['dead-lettered']} dead-lettered{by_code(counts['deadLetteredByCode'])}, "
        f"{counts['timed-out']} timed out"
    )


def exit_status(outcomes: Sequence[CommandAnswer]) -> ExitStatus:
    worst = max((KINDS.index(outcome.kind) for outcome in outcomes), default=0)
    return _STATUS[KINDS[worst]]


COMMANDS = (send,)
