"""Field types shared by the referral schema: UTC timestamps, decimals, codes and e-mail.

Timestamps follow Partner Center: ISO 8601 in UTC with a trailing ``Z`` and 0 to 7
fractional digits, written back with seven digits, the way Partner Center writes them.
A document spells them exactly so: upper-case ``T`` and ``Z``, nothing around them.
A ``datetime`` stops at the microsecond; a seventh digit (.NET's 100 ns tick) rides along
on an ``Instant`` so a client's timestamp is written back exactly as precise as it came.
Decimals are exact: JSON numbers arrive as ``Decimal`` or ``int``, and a number sent as a
string (Partner Center's PATCH sends ``"dealValue": "10000"``) is read as the number it
spells. Either way a deal value is plain decimal notation (no sign, exponent, spaces, NaN
or Infinity) within the range of .NET's decimal, which Partner Center keeps it in: at
most 29 digits before the point and 28 after. Lengths are checked before any conversion.
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, SupportsIndex

from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)

from state.catalogues import COUNTRIES, CURRENCIES, WITHDRAWN_CURRENCIES

_TIMESTAMP = re.compile(
    r"^(?P<year>\d{1,4})(?P<base>-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,7}))?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?$",
    re.IGNORECASE | re.ASCII,
)
#: A number as JSON spells it, without exponent; a sign only to say "negative" clearly.
_DECIMAL = re.compile(r"(?P<sign>-?)(?P<whole>0|[1-9]\d*)(?:\.(?P<fraction>\d+))?", re.ASCII)
MAX_WHOLE_DIGITS: Final = 29
MAX_FRACTION_DIGITS: Final = 28
#: The strings accepted, for the published JSON Schema.
_PLAIN: Final = (
    rf"^(0|[1-9][0-9]{{0,{MAX_WHOLE_DIGITS - 1}}})(\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?$"
)
_NOT_DECIMAL: Final = "not a decimal number such as 10000 or 1234.56"
_TOO_MANY_DIGITS: Final = (
    f"more than {MAX_WHOLE_DIGITS} digits before the point or {MAX_FRACTION_DIGITS} after"
)
#: No white space nor control character anywhere (``\s`` alone lets NUL through).
EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f.]+$")


def parse_utc(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() != UTC.utcoffset(None):
            raise ValueError("timestamp must be in UTC")
        return value if value.tzinfo is UTC else with_ticks(value.astimezone(UTC), _ticks(value))
    if not isinstance(value, str):
        raise ValueError("timestamp must be an ISO 8601 string in UTC, e.g. 2026-01-31T09:30:00Z")
    match = _TIMESTAMP.match(value.strip())
    if match is None:
        raise ValueError("not an ISO 8601 timestamp such as 2026-01-31T09:30:00Z")
    zone = (match["zone"] or "").upper()
    if zone not in ("Z", "+00:00", "-00:00"):
        raise ValueError("timestamp must be in UTC and end with Z")
    fraction = (match["fraction"] or "").ljust(7, "0")
    try:
        # Years below 1000 were once written unpadded ("1-01-01T…"); stored ones stay readable.
        year = match["year"].zfill(4)
        parsed = datetime.fromisoformat(f"{year}{match['base'].upper()}.{fraction[:6]}")
    except ValueError:
        raise ValueError("not a valid date and time") from None
    return with_ticks(parsed.replace(tzinfo=UTC), int(fraction[6]))


class Instant(datetime):
    """A datetime that also holds the 100 ns digit past the microsecond it was written with.

    Only the text form uses ``ticks``: arithmetic and comparison stay to the microsecond,
    as for any datetime, and a result computed from an ``Instant`` has no ticks.
    """

    ticks: int = 0

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        # datetime copies and pickles without instance attributes; carry the ticks along.
        return with_ticks, (datetime.combine(self.date(), self.timetz()), self.ticks)


def with_ticks(moment: datetime, ticks: int) -> datetime:
    """``moment`` with a seventh fractional digit; a plain datetime when that digit is 0."""
    if not ticks:
        return moment
    instant = Instant.combine(moment.date(), moment.timetz())
    instant.ticks = ticks
    return instant


def format_utc(value: datetime) -> str:
    # A batch stamps one moment many times: the last plain datetime formatted is kept, by
    # identity (it is immutable, and while held here no look-alike can take its id).
    last, text = _last_formatted[0]
    if value is last:
        return text
    # isoformat is several times cheaper than strftime, and this runs many times a command.
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    text = f"{utc.replace(tzinfo=None).isoformat(timespec='microseconds')}{_ticks(value)}Z"
    if type(value) is datetime:
        _last_formatted[0] = (value, text)
    return text


_last_formatted: list[tuple[datetime | None, str]] = [(None, "")]


def _ticks(value: datetime) -> int:
    return value.ticks if isinstance(value, Instant) else 0


def _decimal(value: object) -> object:
    if isinstance(value, float):
        # A float has already lost digits; read it through its shortest repr instead.
        return _plain_decimal(Decimal(repr(value)))
    if isinstance(value, str):
        # Partner Center sends numbers as strings too; read the number, never a float.
        match = _DECIMAL.fullmatch(value)
        if match is None:
            raise ValueError(_NOT_DECIMAL)
        whole, fraction = match["whole"], match["fraction"] or ""
        if len(whole) > MAX_WHOLE_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
            raise ValueError(_TOO_MANY_DIGITS)
        return Decimal(value)
    if isinstance(value, Decimal):
        return _plain_decimal(value)
    if type(value) is int and abs(value) >= 10**MAX_WHOLE_DIGITS:  # never turned into text
        raise ValueError(_TOO_MANY_DIGITS)
    return value


def _plain_decimal(value: Decimal) -> Decimal:
    """A JSON number's decimal, refused unless plain notation would spell it."""
    if not value.is_finite():
        raise ValueError(_NOT_DECIMAL)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite decimal's is
    if exponent > 0:  # 1E+3: only an exponent writes that
        raise ValueError(_NOT_DECIMAL)
    if value.adjusted() >= MAX_WHOLE_DIGITS or -exponent > MAX_FRACTION_DIGITS:
        raise ValueError(_TOO_MANY_DIGITS)
    return value


def _not_negative(value: Decimal) -> Decimal:
    if value.is_signed():  # -0 too: a sign says nothing a deal value may say
        raise ValueError("must be 0 or more")
    return value


def _document_timestamp(value: object) -> datetime:
    # What a client sends is spelled exactly; the shell's own readers (a query's bound, a
    # stored column) may be lenient about case and space.
    if isinstance(value, str) and (value != value.strip() or "t" in value or "z" in value):
        raise ValueError("timestamp must be spelled as 2026-01-31T09:30:00Z (T and Z, no spaces)")
    return parse_utc(value)


#: Validation context of a document read back from the store (``{STORED: True}``): it was
#: valid when written, so reference data withdrawn since then is still accepted.
STORED: Final = "stored"


def _country(value: object) -> object:
    if isinstance(value, str):
        code = value.strip().upper()
        if code not in COUNTRIES:
            raise ValueError("not an ISO 3166-1 alpha-2 country code")
        return code
    return value


def _currency(value: object, info: ValidationInfo) -> object:
    if isinstance(value, str):
        code = value.strip().upper()
        stored = isinstance(info.context, Mapping) and info.context.get(STORED)
        if code not in CURRENCIES and not (stored and code in WITHDRAWN_CURRENCIES):
            raise ValueError("not an ISO 4217 currency code")
        return code
    return value


def _email(value: object) -> object:
    if isinstance(value, str) and not EMAIL.match(value):
        raise ValueError("not an e-mail address")
    return value


UtcTimestamp = Annotated[
    datetime, BeforeValidator(_document_timestamp), PlainSerializer(format_utc, return_type=str)
]
NonNegativeDecimal = Annotated[
    Decimal,
    BeforeValidator(_decimal),
    AfterValidator(_not_negative),
    WithJsonSchema(
        {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _PLAIN}]}
    ),
]
CountryCode = Annotated[str, BeforeValidator(_country)]
CurrencyCode = Annotated[str, BeforeValidator(_currency)]
EmailAddress = Annotated[
    str, BeforeValidator(_email), WithJsonSchema({"type": "string", "format": "email"})
]
