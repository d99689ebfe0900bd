"""Turning a referral document into a ``Referral``, or into a rejection listing every problem.

pydantic reports each problem with the location it found it at; here that becomes a JSON
Pointer in the canonical camelCase names, whatever spelling the document used.
"""

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from state.errors import FieldProblem, Refused, RejectionCode
from state.json_patch import escape_key
from state.referral_schema import CANONICAL_KEYS, Referral


def validate_referral(document: Mapping[str, Any]) -> Referral:
    try:
        return Referral.model_validate(document)
    except ValidationError as error:
        problems = problems_from(error)
        summary = "; ".join(f"{p.target}: {p.message}" for p in problems)
        raise Refused(
            RejectionCode.INVALID_REQUEST, f"invalid referral: {summary}", problems
        ) from None


def problems_from(error: ValidationError) -> tuple[FieldProblem, ...]:
    return tuple(
        FieldProblem(_pointer(item["loc"]), item["type"], _message(item["msg"]))
        for item in error.errors(include_url=False, include_input=False)
    )


def _pointer(location: tuple[int | str, ...]) -> str:
    parts = []
    for part in location:
        if isinstance(part, int):
            parts.append(str(part))
        elif "[" not in part:  # pydantic's own markers, e.g. function-after[...]
            parts.append(escape_key(CANONICAL_KEYS.get(part, part)))
    return "/" + "/".join(parts) if parts else ""


def _message(message: str) -> str:
    return message.removeprefix("Value error, ")
