"""Field types shared by the referral schema: UTC timestamps, codes and e-mail addresses.

Timestamps follow Partner Center: ISO 8601 in UTC with a trailing ``Z`` and 0 to 7
fractional digits. They are held to the microsecond (a seventh digit is dropped) and
written back with seven digits, the way Partner Center writes them.
"""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

from state.catalogues import COUNTRIES, CURRENCIES

_TIMESTAMP = re.compile(
    r"^(?P<year>\d{1,4})(?P<base>-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,7}))?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def parse_utc(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(None):
            raise ValueError("timestamp must be in UTC")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError("timestamp must be an ISO 8601 string in UTC, e.g. 2026-01-31T09:30:00Z")
    match = _TIMESTAMP.match(value.strip())
    if match is None:
        raise ValueError(f"'{value}' is not an ISO 8601 timestamp such as 2026-01-31T09:30:00Z")
    zone = (match["zone"] or "").upper()
    if zone not in ("Z", "+00:00", "-00:00"):
        raise ValueError(f"timestamp '{value}' must be in UTC and end with Z")
    fraction = (match["fraction"] or "").ljust(6, "0")[:6]
    try:
        # Years below 1000 were once written unpadded ("1-01-01T…"); stored ones stay readable.
        year = match["year"].zfill(4)
        parsed = datetime.fromisoformat(f"{year}{match['base'].upper()}.{fraction}")
    except ValueError as error:
        raise ValueError(f"'{value}' is not a valid date and time: {error}") from None
    return parsed.replace(tzinfo=UTC)


def format_utc(value: datetime) -> str:
    # isoformat is several times cheaper than strftime, and this runs many times a command.
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "0Z"


def _country(value: object) -> object:
    if isinstance(value, str):
        code = value.strip().upper()
        if code not in COUNTRIES:
            raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code")
        return code
    return value


def _currency(value: object) -> object:
    if isinstance(value, str):
        code = value.strip().upper()
        if code not in CURRENCIES:
            raise ValueError(f"'{value}' is not an ISO 4217 currency code")
        return code
    return value


def _email(value: object) -> object:
    if isinstance(value, str) and not _EMAIL.match(value):
        raise ValueError(f"'{value}' is not an e-mail address")
    return value


UtcTimestamp = Annotated[
    datetime, BeforeValidator(parse_utc), PlainSerializer(format_utc, return_type=str)
]
CountryCode = Annotated[str, BeforeValidator(_country)]
CurrencyCode = Annotated[str, BeforeValidator(_currency)]
EmailAddress = Annotated[str, BeforeValidator(_email)]
