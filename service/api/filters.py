"""The ``$filter`` and ``$orderby`` grammar: OData text in, the store's expression tree out.

A tokenizer and a recursive-descent parser for the subset Partner Center's examples use::

    filter     := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" or ")" | team | comparison
    team       := "team/any(" NAME ":" NAME "/email eq" STRING ")"
    comparison := FIELD ("eq"|"ne"|"gt"|"ge"|"lt"|"le") (STRING | DATETIME | "null")

Anything else is a ``FilterError`` whose message names the problem and where it is.
Enum fields take their values case-insensitively and compare on the canonical spelling.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, cast

from service.store.query import (
    FIELDS,
    ORDER_FIELDS,
    All,
    Any,
    Column,
    Comparison,
    Filter,
    Kind,
    Not,
    Operator,
    TeamMember,
)
from state.enums import ReferralQualification, ReferralStatus, ReferralSubstatus, ReferralType
from state.fields import parse_utc

MAX_FILTER_LENGTH: Final = 2000
MAX_DEPTH: Final = 32
_OPERATORS: Final = ("eq", "ne", "gt", "ge", "lt", "le")
_ENUMS: Final[dict[str, type[StrEnum]]] = {
    "status": ReferralStatus,
    "substatus": ReferralSubstatus,
    "type": ReferralType,
    "qualification": ReferralQualification,
}
_FIELDS_FOLDED: Final = {name.casefold(): name for name in FIELDS}
_TOKEN: Final = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')"
    r"|(?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<punct>[():]))"
)


class FilterError(ValueError):
    """A ``$filter`` or ``$orderby`` the service cannot read; the message says why."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    at: int


def tokens(text: str) -> list[Token]:
    found: list[Token] = []
    at = 0
    while at < len(text):
        if text[at:].isspace():
            break
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            raise FilterError(f"unexpected character at position {_skip_space(text, at) + 1}")
        kind = match.lastgroup
        found.append(Token(kind, match.group(kind), match.start(kind)))
        at = match.end()
    return found


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.at = 0

    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise FilterError("the filter ends too early")
        self.at += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.casefold() in words:
            self.at += 1
            return token.text.casefold()
        return None

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text.casefold() != text:
            raise FilterError(f"expected '{text}' at position {token.at + 1}, found '{token.text}'")

    def parse(self) -> Filter:
        node = self.disjunction(0)
        token = self.peek()
        if token is not None:
            raise FilterError(f"unexpected '{token.text}' at position {token.at + 1}")
        return node

    def disjunction(self, depth: int) -> Filter:
        operands = [self.conjunction(depth)]
        while self.keyword("or"):
            operands.append(self.conjunction(depth))
        return operands[0] if len(operands) == 1 else Any(tuple(operands))

    def conjunction(self, depth: int) -> Filter:
        operands = [self.unary(depth)]
        while self.keyword("and"):
            operands.append(self.unary(depth))
        return operands[0] if len(operands) == 1 else All(tuple(operands))

    def unary(self, depth: int) -> Filter:
        if depth > MAX_DEPTH:
            raise FilterError(f"the filter nests deeper than {MAX_DEPTH} levels")
        if self.keyword("not"):
            return Not(self.unary(depth + 1))
        token = self.take()
        if token.text == "(":
            node = self.disjunction(depth + 1)
            self.expect(")")
            return node
        if token.kind != "name":
            raise FilterError(f"expected a field at position {token.at + 1}, found '{token.text}'")
        if token.text.casefold() == "team/any":
            return self.team()
        return self.comparison(token)

    def team(self) -> Filter:
        self.expect("(")
        variable = self.take()
        self.expect(":")
        path = self.take()
        if variable.kind != "name" or path.text != f"{variable.text}/email":
            raise FilterError("team/any supports one condition: team/any(t:t/email eq '...')")
        self.expect("eq")
        value = self.take()
        if value.kind != "string":
            raise FilterError(f"team/any compares t/email with a string, at {value.at + 1}")
        self.expect(")")
        return TeamMember(_unquote(value.text))

    def comparison(self, name: Token) -> Filter:
        field = _FIELDS_FOLDED.get(name.text.casefold())
        if field is None:
            raise FilterError(
                f"'{name.text}' cannot be filtered on; supported: {', '.join(FIELDS)}, team/any"
            )
        operator = self.take()
        if operator.text.casefold() not in _OPERATORS:
            raise FilterError(
                f"expected an operator ({' '.join(_OPERATORS)}) after '{name.text}'"
                f" at position {operator.at + 1}"
            )
        op = cast(Operator, operator.text.casefold())
        return Comparison(FIELDS[field], op, _value(field, op, self.take()))


def _value(field: str, op: str, token: Token) -> str | datetime | None:
    if token.kind == "name" and token.text == "null":
        if op not in ("eq", "ne"):
            raise FilterError(f"'{field}' can only be compared with null by eq or ne")
        return None
    column = FIELDS[field]
    if column.kind is Kind.TIME:
        return _timestamp(field, token)
    if token.kind != "string":
        raise FilterError(f"'{field}' is compared with a quoted string, at {token.at + 1}")
    text = _unquote(token.text)
    enum = _ENUMS.get(field)
    if enum is None:
        return text
    try:
        return str(enum(text))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise FilterError(f"'{text}' is not a {field} value (one of {allowed})") from None


def _timestamp(field: str, token: Token) -> datetime:
    text = _unquote(token.text) if token.kind == "string" else token.text
    if token.kind not in ("string", "datetime"):
        raise FilterError(f"'{field}' is compared with a UTC date-time, at {token.at + 1}")
    try:
        return parse_utc(text)
    except ValueError:
        raise FilterError(f"'{text}' is not a UTC date-time such as 2026-01-31T00:00:00Z") from None


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'")


def parse_filter(text: str) -> Filter:
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if not text.strip():
        raise FilterError("the filter is empty")
    return _Parser(text).parse()


def parse_orderby(text: str) -> tuple[Column, bool]:
    """``createdDateTime`` or ``updatedDateTime``, then ``asc`` (the default) or ``desc``."""
    words = text.split()
    folded = {name.casefold(): name for name in ORDER_FIELDS}
    if not 1 <= len(words) <= 2 or words[0].casefold() not in folded:
        raise FilterError(f"$orderby takes one of {', '.join(ORDER_FIELDS)}, then asc or desc")
    direction = words[1].casefold() if len(words) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise FilterError(f"$orderby direction is asc or desc, not '{words[1]}'")
    return ORDER_FIELDS[folded[words[0].casefold()]], direction == "desc"
