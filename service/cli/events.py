"""``referrals events``: print the events, the rejections or the dead letters, filtered.

Without ``--follow`` it reads from the beginning to the current end; with it, it starts at
the end and waits for more. ``--from-beginning``, ``--offset`` and ``--since`` choose
another start.
"""

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import click

from service.cli.context import Cli, json_option, pass_cli, run
from service.cli.exits import CliError, ExitStatus
from service.cli.when import since_ms
from service.client.describe import describe_dead_letter, describe_event
from service.client.dlq import DeadLetter
from service.client.reader import Start, TopicMissing, read_topic
from service.codec import read_cloudevent
from service.jsonio import JsonRefused
from service.settings import Settings

TOPICS = ("events", "rejections", "dlq")


def start_options(command: Any) -> Any:
    """``--from-beginning``, ``--offset``, ``--partition`` and ``--since``."""
    for option in reversed(
        (
            click.option("--from-beginning", is_flag=True, help="Start at the oldest record."),
            click.option("--offset", type=click.IntRange(min=0), help="Start at this offset."),
            click.option(
                "--partition",
                "partitions",
                type=click.IntRange(min=0),
                multiple=True,
                help="Read only this partition (repeatable).",
            ),
            click.option(
                "--since",
                metavar="TIME",
                callback=since_ms,
                help="Start at this time (ISO 8601 or an age: 15m, 2h).",
            ),
        )
    ):
        command = option(command)
    return command


def start_of(follow: bool, from_beginning: bool, offset: int | None, since: int | None) -> Start:
    given = {
        "--from-beginning": from_beginning,
        "--offset": offset is not None,
        "--since": since is not None,
    }
    chosen = [name for name, present in given.items() if present]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one start: {' or '.join(chosen)}")
    if from_beginning:
        return Start()
    if offset is not None:
        return Start(at="offset", offset=offset)
    if since is not None:
        return Start(at="time", time_ms=since)
    return Start(at="end") if follow else Start()


@click.command()
@click.option(
    "--topic",
    type=click.Choice(TOPICS),
    default="events",
    show_default=True,
    help="Which topic to read.",
)
@start_options
@click.option("--referral", help="Only records of this referral id.")
@click.option("--type", "kind", help="Only this event type (dlq: this x-error-code).")
@click.option("-f", "--follow", is_flag=True, help="Keep waiting for new records.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many records.")
@json_option
@pass_cli
def events(cli: Cli, /, topic: str, follow: bool, limit: int | None, **options: Any) -> int:
    """Print events readably (or the rejections, or the dead letters)."""
    start = start_of(follow, options["from_beginning"], options["offset"], options["since"])
    settings = cli.settings()
    records = _shown(settings, topic, start, follow, frozenset(options["partitions"]) or None)

    async def show() -> None:
        count = 0
        async with contextlib.aclosing(records):
            async for record, text in records:
                if _wanted(record, options["referral"], options["kind"]):
                    cli.emit(record, text)
                    count += 1
                    if limit is not None and count >= limit:
                        return

    run(show())
    return ExitStatus.OK


async def _shown(
    settings: Settings, topic: str, start: Start, follow: bool, partitions: frozenset[int] | None
) -> AsyncGenerator[tuple[dict[str, Any], str], None]:
    """Each record as the JSON object and the line it is shown as."""
    name = {
        "events": settings.events_topic,
        "rejections": settings.rejections_topic,
        "dlq": settings.dlq_topic,
    }[topic]
    records = read_topic(settings, name, start, follow=follow, partitions=partitions)
    try:
        async with contextlib.aclosing(records):
            async for record in records:
                yield _view(record, topic == "dlq")
    except TopicMissing as error:
        raise CliError(ExitStatus.NOT_FOUND, str(error)) from None


def _view(record: Any, dead_letter: bool) -> tuple[dict[str, Any], str]:
    where = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
    }
    if dead_letter:
        summary = DeadLetter(record).summary()
        return summary, describe_dead_letter(summary)
    try:
        event = read_cloudevent(record.value, tuple(record.headers or ()))
    except JsonRefused:
        event = {"type": None, "subject": (record.key or b"").decode(errors="replace")}
    return {**event, "kafka": where}, describe_event(event)


def _wanted(record: dict[str, Any], referral: str | None, kind: str | None) -> bool:
    if referral is not None and referral not in (record.get("subject"), record.get("key")):
        return False
    return kind is None or kind in (record.get("type"), record.get("reason"))


COMMANDS = (events,)
