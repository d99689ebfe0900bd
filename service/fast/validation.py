"""What the Structs' types cannot say: checked after decoding, in the models' terms.

A timestamp matched the canonical pattern; here it must also name a real moment, and it is
written back with seven digits of fraction, as ``state.fields.format_utc`` writes it. A deal
value must be plain decimal notation, not negative, within .NET's decimal. Anything refused
here is left to the models, whose refusal names the problem; None says so.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from msgspec import UNSET

from service.fast import schema
from state.fields import MAX_FRACTION_DIGITS, MAX_WHOLE_DIGITS

_LARGEST: Final = 10**MAX_WHOLE_DIGITS
#: Top-level timestamps, by Python name.
TIMESTAMPS: Final = (
    "created_date_time",
    "updated_date_time",
    "expiration_date_time",
    "accepted_date_time",
    "closed_date_time",
)


def stored_timestamp(text: str) -> str | None:
    """A canonical timestamp as the service writes it (seven digits), or None when it names
    no moment (February 30th, hour 24, year 0)."""
    try:
        datetime.fromisoformat(text[:19])
    except ValueError:
        return None
    if len(text) == 28:
        return text
    return f"{text[:19]}.{text[20:-1].ljust(7, '0')}Z"


def plain_amount(value: object) -> bool:
    """Whether a decoded deal value is one the models accept and write as it came."""
    if isinstance(value, int):
        return type(value) is int and 0 <= value < _LARGEST
    if not isinstance(value, Decimal):
        return False
    # Finite, not negative, no exponent (a JSON number of the same text never reads as one),
    # within the digits: exactly what its text says when it is plain digits and one point.
    whole, _, fraction = str(value).partition(".")
    return (
        whole.isdigit()
        and len(whole) <= MAX_WHOLE_DIGITS
        and len(fraction) <= MAX_FRACTION_DIGITS
        and (not fraction or fraction.isdigit())
    )


def checked_referral(referral: schema.Referral) -> schema.Referral | None:
    """A freshly decoded referral with its timestamps in stored form, or None if the models
    must judge it. Changes ``referral`` in place: it is nobody else's yet."""
    for name in TIMESTAMPS:
        value = getattr(referral, name)
        if type(value) is str:
            stored = stored_timestamp(value)
            if stored is None:
                return None
            setattr(referral, name, stored)
    details = referral.details
    if type(details) is schema.ReferralDetails:
        amount = details.deal_value
        if amount is not UNSET and amount is not None and not plain_amount(amount):
            return None
        closing = details.closing_date_time
        if type(closing) is str:
            stored = stored_timestamp(closing)
            if stored is None:
                return None
            details.closing_date_time = stored
    return referral


def checked_leaf(value: Any, kind: str) -> tuple[bool, Any]:
    """A patched leaf's decoded value in stored form: (whether the models would take it as
    the fast path writes it, the value)."""
    if value is None or kind == "plain":
        return True, value
    if kind == "timestamp":
        stored = stored_timestamp(value)
        return stored is not None, stored
    return plain_amount(value), value
