"""Times given on the command line: ISO 8601, or an age such as ``90s``, ``15m``, ``2h``."""

import re
from datetime import UTC, datetime, timedelta
from typing import Final

import click

_AGE: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def since_ms(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """An option callback: the moment as epoch milliseconds (a time without zone is UTC)."""
    if value is None:
        return None
    text = value.strip()
    age = _AGE.match(text)
    if age:
        moment = datetime.now(UTC) - timedelta(**{_UNITS[age[2]]: float(age[1])})
        return int(moment.timestamp() * 1000)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither ISO 8601 nor an age like 15m, 2h, 7d", ctx, param
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
