"""JSON in and out, bounded whatever the input, with numbers kept as exact decimals.

Reading is two-step. orjson parses first: it is linear in the input, refuses invalid
UTF-8, lone surrogates, NaN and nesting beyond 1024 levels, and never recurses in Python.
Only a value that holds a float (a fraction, or an integer beyond 64 bits: precision may
have been lost) and that is at most ``EXACT_DEPTH`` deep is parsed again by the standard
library, which reads every such number as an exact ``Decimal`` but recurses once per
level.
"""

import json
from decimal import Decimal
from typing import Any, Final

import orjson

#: Deepest value the exact second parse takes on; deeper values are refused by the limits.
EXACT_DEPTH: Final = 256


class JsonRefused(ValueError):
    """The text is not JSON that the service reads (invalid, or beyond the parser's limits)."""


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    return orjson.dumps(value, default=_exact_number, option=orjson.OPT_INDENT_2 if pretty else 0)


def _exact_number(value: object) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def loads(raw: bytes | str) -> Any:
    """Parse JSON text; raises ``JsonRefused`` with a message that quotes nothing of it."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise JsonRefused(f"not JSON: {_reason(error)}") from None
    depth, fractional = shape(value)
    if fractional and depth <= EXACT_DEPTH:
        return json.loads(
            raw, parse_float=Decimal, parse_int=_exact_int, parse_constant=_no_constants
        )
    return value


def _reason(error: orjson.JSONDecodeError) -> str:
    # orjson's messages name the problem and its position, never the offending text.
    return str(error.msg)[:200] + f" at character {error.pos}"


def _exact_int(text: str) -> int | Decimal:
    # Integers beyond 64 bits stay exact as Decimal: the encoder writes those, not huge ints.
    if len(text) < 19:
        return int(text)
    wide = Decimal(text)
    return int(wide) if -(2**63) <= wide < 2**64 else wide


def _no_constants(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number")


def shape(value: Any) -> tuple[int, bool]:
    """The nesting depth of a parsed value (a scalar is 0) and whether it holds a float.

    Iterative, so any depth is measured without recursion.
    """
    deepest, fractional = 0, False
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            fractional = fractional or isinstance(node, float)
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in node)
    return deepest, fractional
