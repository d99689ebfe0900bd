"""JSON in and out, bounded whatever the input, with numbers kept as exact decimals.

Reading uses the standard library's C parser, which is linear in the input and reads every
fraction as an exact ``Decimal``; its nesting is bounded by the interpreter's recursion
limit, and going deeper ends in a ``RecursionError`` that is turned into a refusal like
any other. Integers beyond 64 bits stay exact as ``Decimal`` (the encoder writes those).
Text must be UTF-8 (strictly: no encoded surrogates). Escaped surrogates, which the
standard parser lets through unpaired, are checked when present: a string holding an
unpaired one could never be written out again. ``NaN`` and ``Infinity`` are refused.
"""

import json
import re
from decimal import Decimal
from typing import Any, Final

import orjson

#: An escaped UTF-16 surrogate (paired or not); rare, so checked only when present.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


class JsonRefused(ValueError):
    """The text is not JSON that the service reads (invalid, or beyond the parser's limits)."""


class DuplicateKey(JsonRefused):
    """An object names one key twice: readers disagree on which counts (the first, the last)."""


class _Twice(ValueError):
    pass


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    return orjson.dumps(value, default=_exact_number, option=orjson.OPT_INDENT_2 if pretty else 0)


def encoded(json: bytes) -> Any:
    """JSON text already encoded, to be written as it is inside a value given to ``dumps``."""
    return orjson.Fragment(json)


def _exact_number(value: object) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def loads(raw: bytes | str, *, unique_keys: bool = False) -> Any:
    """Parse JSON text; raises ``JsonRefused`` with a message that quotes nothing of it
    (``unique_keys``: ``DuplicateKey`` for an object that names a key twice, at a cost of
    a few microseconds a kilobyte: for what others produced, not for what the service
    wrote)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw  # strict: no surrogates
        value = (_UNIQUE_KEYS_DECODER if unique_keys else _DECODER).decode(text)
    except _Twice:
        raise DuplicateKey("not JSON the service reads: an object names a key twice") from None
    except RecursionError:
        raise JsonRefused("not JSON the service reads: nested too deep") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise JsonRefused(f"not JSON: {_plain(error)}") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            dumps(value)  # refuses a string holding an unpaired surrogate
        except orjson.JSONEncodeError:
            raise JsonRefused("not JSON: a string holds an unpaired UTF-16 surrogate") from None
    return value


def _plain(error: Exception) -> str:
    # The standard parser's messages name the problem and its position, never the text.
    if isinstance(error, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {error.start}"
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at character {error.pos}"
    return str(error)[:200]


def _exact_int(text: str) -> int | Decimal:
    # Integers beyond 64 bits stay exact as Decimal: the encoder writes those, not huge ints.
    if len(text) < 19:
        return int(text)
    wide = Decimal(text)
    return int(wide) if -(2**63) <= wide < 2**64 else wide


def _nan(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _Twice
    return found


#: One decoder for every call (``json.loads`` with options builds a new one each time).
_DECODER: Final = json.JSONDecoder(parse_float=Decimal, parse_int=_exact_int, parse_constant=_nan)
_UNIQUE_KEYS_DECODER: Final = json.JSONDecoder(
    parse_float=Decimal, parse_int=_exact_int, parse_constant=_nan, object_pairs_hook=_unique
)
