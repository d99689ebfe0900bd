"""``referrals dlq list|show|redrive``: look at dead letters and send them back.

A dead letter is named by its ``partition:offset`` in the dead-letter topic, as ``list``
prints it. ``redrive`` republishes to the topic each came from (a tenant's letter acts as
that tenant again), as the record came or replaced from a corrected file, once: a dead
letter already redriven is skipped. A bulk redrive (``--all``, ``--reason``, ``--since``)
also skips, and reports, each dead letter that cannot be sent as asked, sends the rest,
and then exits with ``SKIPPED``.
"""

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import click

from service.cli.context import Cli, json_option, pass_cli, read_json, run, timeout_option
from service.cli.events import start_of, start_options
from service.cli.exits import CliError, ExitStatus
from service.cli.send import exit_status
from service.cli.when import since_ms
from service.client.describe import describe_dead_letter
from service.client.dlq import (
    DeadLetter,
    NotRedrivable,
    already_redriven,
    dead_letters_in,
    redrive_record,
    redrive_topic,
    select,
)
from service.client.outcomes import CommandAnswer, Outgoing, send_and_wait
from service.client.reader import Start, TopicMissing
from service.dead_letter_codes import DeadLetterCode
from service.jsonio import dumps
from service.settings import Settings

T = TypeVar("T")
FROM_BEGINNING = Start()
REASONS = click.Choice([code.value for code in DeadLetterCode])


@click.group()
def dlq() -> None:
    """Inspect and redrive dead letters (records the service could not take)."""


@dlq.command("list")
@start_options
@click.option("--reason", type=REASONS, help="Only this x-error-code.")
@click.option("--limit", type=click.IntRange(min=1), help="Print at most this many.")
@json_option
@pass_cli
def list_letters(cli: Cli, /, reason: str | None, limit: int | None, **options: Any) -> int:
    """List dead letters: address, time, reason, origin, size, message."""
    letters = _letters(cli.settings(), options, reason)
    for letter in letters[:limit]:
        summary = letter.summary()
        cli.emit(summary, describe_dead_letter(summary))
    return ExitStatus.OK


@dlq.command("show")
@click.argument("addresses", nargs=-1, required=True, metavar="PARTITION:OFFSET...")
@json_option
@pass_cli
def show(cli: Cli, /, addresses: tuple[str, ...]) -> int:
    """Show dead letters whole: headers and value (text, or base64 when not UTF-8)."""
    for letter in _addressed(cli.settings(), addresses, None):
        detail = letter.detail()
        cli.emit(detail, _detail_text(detail))
    return ExitStatus.OK


@dlq.command("redrive")
@click.argument("addresses", nargs=-1, metavar="[PARTITION:OFFSET...]")
@click.option("--all", "everything", is_flag=True, help="Every dead letter (with the filters).")
@click.option("--reason", type=REASONS, help="Only this x-error-code.")
@click.option("--since", metavar="TIME", callback=since_ms, help="Only dead letters since then.")
@click.option(
    "--replace",
    "replacement",
    metavar="FILE|-",
    help="Send this corrected JSON instead (one dead letter).",
)
@click.option(
    "--topic",
    metavar="TOPIC",
    help="Send to this topic instead of the one each came from (only letters from the"
    " shared commands topic, or without an origin).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for outcomes.")
@timeout_option
@json_option
@pass_cli
def redrive(cli: Cli, /, addresses: tuple[str, ...], everything: bool, **options: Any) -> int:
    """Republish dead letters to the topic each came from, each at most once."""
    if not (addresses or everything or options["reason"] or options["since"]):
        raise click.UsageError("name dead letters (PARTITION:OFFSET), or give --all or a filter")
    settings = cli.settings()
    start = Start(at="time", time_ms=options["since"]) if options["since"] else Start()
    letters = _addressed(settings, addresses, options["reason"], start)
    if options["replacement"] is not None and len(letters) != 1:
        raise click.UsageError(f"--replace takes one dead letter, {len(letters)} selected")
    replacement = read_json(options["replacement"]) if options["replacement"] else None
    plan = _Plan(cli, settings, bulk=not addresses and replacement is None)
    sendable = plan.make(letters, replacement, options["topic"])
    status = ExitStatus.SKIPPED if plan.skipped else ExitStatus.OK
    if options["dry_run"]:
        for letter, record in sendable:
            cli.emit(_would_send(letter, record), _would_send_text(letter, record))
        return status
    if not sendable:
        return status
    wait = options["timeout"] if options["wait"] else 0.0
    outcomes = run(send_and_wait(settings, [record for _, record in sendable], wait))
    _report_redriven(cli, [letter for letter, _ in sendable], outcomes, options["wait"])
    sent_status = exit_status(outcomes) if options["wait"] else ExitStatus.OK
    return sent_status if sent_status is not ExitStatus.OK else status


class _Plan:
    """What a redrive sends: each letter not redriven before, as the record to send and the
    topic it goes to. A letter that cannot be sent as asked stops a redrive of named
    letters; a bulk redrive (``--all``, filters) reports and skips it instead."""

    def __init__(self, cli: Cli, settings: Settings, *, bulk: bool) -> None:
        self.cli, self.settings, self.bulk = cli, settings, bulk
        self.skipped = 0

    def make(
        self, letters: Sequence[DeadLetter], replacement: Any, chosen_topic: str | None
    ) -> list[tuple[DeadLetter, Outgoing]]:
        shared = self.settings.commands_topic
        routed = self._each(letters, lambda letter: redrive_topic(letter, shared, chosen_topic))
        targets = {letter.mark: topic for letter, topic in routed}
        todo = self._not_yet_redriven([letter for letter, _ in routed], set(targets.values()))
        built = self._each(todo, lambda letter: redrive_record(letter, replacement))
        return [(letter, replace(record, topic=targets[letter.mark])) for letter, record in built]

    def _each(
        self, letters: Sequence[DeadLetter], attempt: Callable[[DeadLetter], T]
    ) -> list[tuple[DeadLetter, T]]:
        done = []
        for letter in letters:
            try:
                done.append((letter, attempt(letter)))
            except NotRedrivable as error:
                if not self.bulk:
                    raise CliError(ExitStatus.BAD_INPUT, str(error)) from None
                self.skipped += 1
                self.cli.emit(
                    {"deadLetter": letter.address, "action": "skipped", "reason": letter.reason,
                     "message": str(error)},
                    f"{letter.address}: {letter.reason}: not redriven, {error}; skipped",
                )  # fmt: skip
        return done

    def _not_yet_redriven(
        self, letters: Sequence[DeadLetter], topics: set[str]
    ) -> list[DeadLetter]:
        """The letters not redriven before (to ``topics``, or the shared commands topic);
        each one that was is reported as skipped."""
        done = run(already_redriven(self.settings, letters, sorted(topics)))
        for letter in letters:
            if letter.mark in done:
                topic, where = done[letter.mark]
                self.cli.emit(
                    {"deadLetter": letter.address, "action": "skipped", "topic": topic,
                     "redriven": where},
                    f"{letter.address}: already redriven (to {topic} {where}); skipped",
                )  # fmt: skip
        return [letter for letter in letters if letter.mark not in done]


def _report_redriven(
    cli: Cli, letters: Sequence[DeadLetter], outcomes: Sequence[CommandAnswer], waited: bool
) -> None:
    for letter, outcome in zip(letters, outcomes, strict=True):
        shown = outcome.kind if waited else "sent"
        cli.emit(
            {
                **outcome.to_json(),
                # The letter redriven; the outcome's own dead letter, if any, is a new one.
                "deadLetter": letter.address,
                "action": "redriven",
                "deadLetteredAgain": outcome.dead_letter,
            },
            f"{letter.address}: redriven to {outcome.topic} {outcome.partition}:{outcome.offset}:"
            f" {shown} {outcome.code or ''}".rstrip(),
        )


def _letters(settings: Settings, options: dict[str, Any], reason: str | None) -> list[DeadLetter]:
    start = start_of(False, options["from_beginning"], options["offset"], options["since"])
    partitions = frozenset(options["partitions"]) or None
    return select(_read(settings, start, partitions), (), reason)


def _addressed(
    settings: Settings, addresses: Sequence[str], reason: str | None, start: Start = FROM_BEGINNING
) -> list[DeadLetter]:
    for address in addresses:
        partition, _, offset = address.partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            raise click.UsageError(f"{address!r} is not PARTITION:OFFSET (e.g. 0:42)")
    chosen = select(_read(settings, start, None), addresses, reason)
    missing = sorted(set(addresses) - {letter.address for letter in chosen})
    if missing:
        raise CliError(ExitStatus.NOT_FOUND, f"no dead letter at {', '.join(missing)}")
    return chosen


def _read(settings: Settings, start: Start, partitions: frozenset[int] | None) -> list[DeadLetter]:
    try:
        return run(dead_letters_in(settings, start, partitions))
    except TopicMissing as error:
        raise CliError(ExitStatus.NOT_FOUND, str(error)) from None


def _detail_text(detail: dict[str, Any]) -> str:
    lines = [describe_dead_letter(detail), "  headers:"]
    lines += [f"    {h['name']}: {h.get('text', h.get('base64'))}" for h in detail["headers"]]
    value = detail["value"]
    body = value.get("text") if "text" in value else f"(base64) {value['base64']}"
    return "\n".join([*lines, f"  key: {detail['key']}", "  value:", f"    {body}", ""])


def _would_send(letter: DeadLetter, record: Outgoing) -> dict[str, Any]:
    return {
        "deadLetter": letter.address,
        "action": "would-redrive",
        "topic": record.topic,
        "command": record.command_id,
        "key": (record.record.key or b"").decode(errors="replace"),
        "headers": {
            n: None if v is None else v.decode(errors="replace") for n, v in record.record.headers
        },
        "value": (record.record.value or b"").decode(errors="replace"),
    }


def _would_send_text(letter: DeadLetter, record: Outgoing) -> str:
    shown = _would_send(letter, record)
    return f"{letter.address}: would redrive to {record.topic} {dumps(shown).decode()}"


COMMANDS = (dlq,)
