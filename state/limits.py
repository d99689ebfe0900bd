"""Limits on what a command may carry, so that no input costs unbounded time or space
and every store can hold what the decision accepts.

A command's data is walked once, iteratively (no recursion, whatever the nesting), and the
first place over a limit is reported by its JSON Pointer. No string or key in it holds a
control character (U+0000 to U+001F) other than tab, line feed and carriage return:
PostgreSQL's text cannot hold U+0000 at all, and none of them belongs in a referral.
Identifiers (command ids, referral ids, tenants) have a shape of their own because they
become keys and columns; so do the fields the store indexes (``state.indexed``).
"""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from state.commands import TextExtent
from state.errors import FieldProblem


def _json_encoding(document: Mapping[str, Any]) -> bytes:
    text = json.dumps(document, default=str, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 64
    max_patch_operations: int = 100
    max_document_bytes: int = 262_144
    max_array_items: int = 1000
    max_string_length: int = 32_768
    max_id_length: int = 256
    #: Characters of a string the store keeps in an indexed column (``state.indexed``).
    max_indexed_length: int = 150
    #: A referral document as compact JSON, to measure it; the shell passes its own encoder.
    encode_document: Callable[[Mapping[str, Any]], bytes] = _json_encoding

    def document_bytes(self, document: Mapping[str, Any]) -> int:
        return len(self.encode_document(document))


DEFAULT_LIMITS: Final = Limits()
_CONTROL_OR_SURROGATE: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: What no string of a command's data may hold: C0 controls but tab, line feed and return.
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_MESSAGE: Final = "holds a control character (only tab, line feed and return may be)"


def identifiers_fit(values: list[str], max_length: int) -> bool:
    """Whether every one of these strings is an identifier: ``identifier_problem`` of many
    at once, cheaper than one by one."""
    if values and max(map(len, values)) > max_length:
        return False
    joined = "".join(values)
    # In ASCII (which a str knows of itself) the non-printable characters are exactly the
    # controls the pattern looks for, and ``isprintable`` is a plain loop in C.
    return joined.isprintable() if joined.isascii() else not _CONTROL_OR_SURROGATE.search(joined)


def identifier_problem(value: object, max_length: int) -> str | None:
    """Why ``value`` cannot be an identifier, or None when it can (or is absent)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    if _CONTROL_OR_SURROGATE.search(value):
        return "contains control characters or lone surrogates"
    return None


def data_problem(
    data: object, limits: Limits, extent: TextExtent | None = None
) -> FieldProblem | None:
    """The first place in a command's data that is over a limit, or None. ``extent``: that
    of the JSON text the data was read from, which may prove it within without a walk."""
    if extent is not None and _text_within(extent, limits):
        return None
    if _within(data, limits):
        return None
    return _first_problem(data, limits)


def _text_within(extent: TextExtent, limits: Limits) -> bool:
    return (
        not extent.may_escape_controls
        and extent.length <= limits.max_string_length
        and (extent.length + 1) // 2 <= limits.max_array_items
        and extent.containers <= limits.max_depth
    )


def _within(data: object, limits: Limits) -> bool:
    """The common case, fast: every node within the limits (no paths kept)."""
    longest, most, deepest = limits.max_string_length, limits.max_array_items, limits.max_depth
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth >= deepest or len(node) > most:
                return False
            for key, child in node.items():
                if len(key) > longest or _CONTROL.search(key) or not _plain(child, longest):
                    return False
                if isinstance(child, (dict, list)):
                    stack.append((child, depth + 1))
        elif isinstance(node, list):
            if depth >= deepest or len(node) > most:
                return False
            for child in node:
                if not _plain(child, longest):
                    return False
                if isinstance(child, (dict, list)):
                    stack.append((child, depth + 1))
        elif not _plain(node, longest):
            return False
    return True


def _plain(node: object, longest: int) -> bool:
    """Not a string, or one within the length and without a control character."""
    return not isinstance(node, str) or (len(node) <= longest and not _CONTROL.search(node))


def _first_problem(data: object, limits: Limits) -> FieldProblem | None:
    """The slow path, once something is over a limit: walk again keeping each path."""
    stack: list[tuple[object, tuple[str, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if len(node) > limits.max_string_length:
                return _problem(path, "tooLong", f"longer than {limits.max_string_length} chars")
            if _CONTROL.search(node):
                return _problem(path, "controlCharacter", _CONTROL_MESSAGE)
            continue
        if not isinstance(node, Mapping | list):
            continue
        if len(path) >= limits.max_depth:
            return _problem(path, "tooDeep", f"nested deeper than {limits.max_depth} levels")
        if len(node) > limits.max_array_items:
            return _problem(path, "tooManyItems", f"more than {limits.max_array_items} items")
        if isinstance(node, list):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(node))
            continue
        for key, child in node.items():
            if len(key) > limits.max_string_length:
                return _problem(path, "tooLong", f"a key longer than {limits.max_string_length}")
            if _CONTROL.search(key):
                return _problem(path, "controlCharacter", f"a key {_CONTROL_MESSAGE}")
            stack.append((child, (*path, key)))
    return None


def nesting_depth(value: object) -> int:
    """How many arrays and objects deep ``value`` goes (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _problem(path: tuple[str, ...], code: str, message: str) -> FieldProblem:
    pointer = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)
    return FieldProblem(pointer[:1024], code, message)
