"""JSON Patch (RFC 6902) as Partner Center's PATCH uses it: ``add`` and ``replace`` only.

Paths are JSON Pointers (RFC 6901): ``~`` is written ``~0`` and ``/`` is written ``~1``,
and any other ``~`` is refused. A key is matched case-insensitively against the keys
already in the document, so ``/Details/DealValue`` patches ``details.dealValue``. An array
index is a canonical decimal (no leading zero) read only when it is short enough to name
an item: a longer one is refused before it is ever converted.
"""

import copy
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from state.errors import FieldProblem
from state.limits import DEFAULT_LIMITS, Limits, nesting_depth

SUPPORTED_OPS = ("add", "replace")
#: A parsed operation: its op, the path's keys, its value.
Operation = tuple[str, list[str], Any]
#: A ``~`` that is not the escape of ``~`` or ``/``.
_BAD_ESCAPE = re.compile("~(?![01])")


class PatchProblem(Exception):
    def __init__(self, *problems: FieldProblem) -> None:
        super().__init__(problems[0].message)
        self.problems = problems


def parse_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError("path is not a JSON Pointer (it must start with '/')")
    if "~" in pointer and _BAD_ESCAPE.search(pointer):
        raise ValueError("path is not a JSON Pointer (a '~' must be followed by 0 or 1)")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def escape_key(key: str) -> str:
    if "~" not in key and "/" not in key:
        return key  # nearly every key: two scans instead of two copies
    return key.replace("~", "~0").replace("/", "~1")


def is_object(value: object) -> TypeGuard[Mapping[str, Any]]:
    """A JSON object? Documents are plain dicts, and the abstract ``Mapping`` check, asked
    first, costs more than the walks over them that ask it."""
    return type(value) is dict or isinstance(value, Mapping)


def validate_operations(operations: object, limits: Limits = DEFAULT_LIMITS) -> list[Operation]:
    """Check the shape of every operation; report all problems at once."""
    if not isinstance(operations, list) or not operations:
        raise PatchProblem(
            FieldProblem("", "invalidValue", "data must be a non-empty JSON Patch array")
        )
    if len(operations) > limits.max_patch_operations:
        raise PatchProblem(
            FieldProblem(
                "",
                "tooManyOperations",
                f"{len(operations)} operations, more than {limits.max_patch_operations}",
            )
        )
    parsed: list[Operation] = []
    problems: list[FieldProblem] = []
    for index, operation in enumerate(operations):
        found, its_problems = _operation(f"/{index}", operation, limits)
        problems += its_problems
        if found is not None:
            parsed.append(found)
    if problems:
        raise PatchProblem(*problems)
    return parsed


def _operation(
    where: str, operation: object, limits: Limits
) -> tuple[Operation | None, list[FieldProblem]]:
    """One operation parsed, or None; and its problems."""
    if not isinstance(operation, Mapping):
        return None, [FieldProblem(where, "invalidValue", "operation must be an object")]
    problems: list[FieldProblem] = []
    op, path = operation.get("op"), operation.get("path")
    if op not in SUPPORTED_OPS:
        supported = f"op is not supported; use one of {', '.join(SUPPORTED_OPS)}"
        problems.append(FieldProblem(f"{where}/op", "unsupportedOperation", supported))
    elif "value" not in operation:
        problems.append(FieldProblem(f"{where}/value", "missing", "operation needs a value"))
    try:
        segments = parse_pointer(path) if isinstance(path, str) else None
    except ValueError as error:
        return None, [*problems, FieldProblem(f"{where}/path", "invalidValue", str(error))]
    if not segments or not segments[0]:
        inside = "path must point inside the referral"
        return None, [*problems, FieldProblem(f"{where}/path", "invalidValue", inside)]
    value = operation.get("value")
    if len(segments) + nesting_depth(value) > limits.max_depth:
        deeper = f"the value would sit deeper than {limits.max_depth} levels"
        return None, [*problems, FieldProblem(f"{where}/value", "tooDeep", deeper)]
    return (str(op), segments, value), problems


def apply(
    document: Mapping[str, Any],
    operations: list[Operation],
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Apply parsed operations to a copy of the document.

    Only the objects and arrays along the patched paths are copied; the rest is shared
    with ``document``, which is left as it was.
    """
    patched = dict(document)
    for index, (op, segments, value) in enumerate(operations):
        where = f"/{index}/path"
        _apply_one(patched, op, segments, copy.deepcopy(value), where, limits.max_array_items)
    return patched


def _apply_one(
    document: dict[str, Any], op: str, segments: list[str], value: Any, where: str, max_items: int
) -> None:
    parent: Any = document
    for depth, segment in enumerate(segments[:-1]):
        parent = _child(parent, segment, where, segments[: depth + 1])
    last = segments[-1]
    if isinstance(parent, dict):
        key = existing_key(parent, last)
        if op == "replace" and key not in parent:
            raise _missing(where, segments)
        parent[key] = value
    elif isinstance(parent, list):
        if op == "add" and len(parent) >= max_items:
            raise PatchProblem(
                FieldProblem(where, "tooManyItems", f"the array already has {max_items} items")
            )
        if last == "-" and op == "add":
            parent.append(value)
            return
        position = _index(last, len(parent) + (op == "add"), where)
        if op == "add":
            parent.insert(position, value)
        else:
            parent[position] = value
    else:
        raise _missing(where, segments)


def _child(node: Any, segment: str, where: str, walked: list[str]) -> Any:
    if isinstance(node, dict):
        key = existing_key(node, segment)
        if key in node and isinstance(node[key], (dict, list)):
            node[key] = _copied(node[key])
            return node[key]
        if key not in node or node[key] is None:
            # Partner Center lets a patch add a field inside an absent object.
            node[key] = {}
            return node[key]
    elif isinstance(node, list):
        index = _index(segment, len(node), where)
        if isinstance(node[index], (dict, list)):
            node[index] = _copied(node[index])
        return node[index]
    raise _missing(where, walked)


def _copied(node: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    return dict(node) if isinstance(node, dict) else list(node)


def existing_key(node: dict[str, Any], segment: str) -> str:
    if segment in node:
        return segment
    folded = segment.casefold()
    return next((key for key in node if key.casefold() == folded), segment)


def _index(segment: str, size: int, where: str) -> int:
    canonical = segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0")
    # Compared as text first: no array is as long as an index with more digits than its size.
    if not canonical or len(segment) > len(str(size)) or int(segment) >= size:
        raise PatchProblem(
            FieldProblem(where, "invalidValue", "the path does not name an index of the array")
        )
    return int(segment)


def _missing(where: str, segments: list[str]) -> PatchProblem:
    pointer = "/" + "/".join(escape_key(s) for s in segments)
    return PatchProblem(FieldProblem(where, "pathNotFound", f"{pointer} does not exist"))
