"""The ``$filter`` and ``$orderby`` grammar: OData text in, the store's expression tree out.

A recursive-descent parser over ``tokens`` for the subset Partner Center's examples
use::

    filter     := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" or ")" | team | comparison
    team       := "team/any(" NAME ":" NAME "/email eq" STRING ")"
    comparison := FIELD ("eq"|"ne"|"gt"|"ge"|"lt"|"le") (STRING | DATETIME | "null")

Anything else is a ``FilterError`` whose message names the problem: the OData construct
the service leaves out (``errors``) with what it supports, or what was expected
where. Enum fields take their values case-insensitively and compare on the canonical
spelling.
"""

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Final, cast

from service.api.filters.errors import (
    KEYWORDS,
    OPERATORS,
    SUPPORTED,
    misplaced_value,
    unsupported,
)
from service.api.filters.tokens import FilterError, Token, tokens
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

__all__ = ["FilterError", "parse_filter", "parse_orderby"]

MAX_FILTER_LENGTH: Final = 2000
MAX_DEPTH: Final = 32
_ENUMS: Final[dict[str, type[StrEnum]]] = {
    "status": ReferralStatus,
    "substatus": ReferralSubstatus,
    "type": ReferralType,
    "qualification": ReferralQualification,
}
_FIELDS_FOLDED: Final = {name.casefold(): name for name in FIELDS}
_COMPARISON: Final = "a comparison such as status eq 'New'"
_VALUE: Final = "a value ('quoted string', UTC date-time or null)"
_TEAM: Final = "team/any supports one condition: team/any(t:t/email eq '...')"


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.at = 0

    def peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str) -> Token:
        token = self.peek()
        if token is None:
            raise FilterError(f"the filter ends too early: {expected} should follow")
        self.at += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.casefold() in words:
            self.at += 1
            return token.text.casefold()
        return None

    def refuse(self, expected: str) -> FilterError:
        """The error for the token just taken where ``expected`` should be: the construct
        it starts if the service knows it, else what was expected and what was found."""
        token = self.tokens[self.at - 1]
        named = unsupported(token, self.peek())
        if named is not None:
            return FilterError(named)
        return FilterError(
            f"expected {expected} at position {token.position}, found {_shown(token)}; {SUPPORTED}"
        )

    def calls(self) -> bool:
        """Whether the next token opens a parenthesis, as a function call's name is followed."""
        following = self.peek()
        return following is not None and following.text == "("

    def parse(self) -> Filter:
        node = self.disjunction(0)
        token = self.peek()
        if token is not None:
            self.at += 1
            if token.text == ")":
                raise FilterError(f"unexpected ')' at position {token.position}: it closes no '('")
            raise self.refuse("and, or or the end of the filter")
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
        token = self.take(_COMPARISON)
        if token.text == "(":
            node = self.disjunction(depth + 1)
            self.close(token)
            return node
        if token.kind == "name" and token.text.casefold() == "team/any":
            return self.team()
        if token.kind != "name" or self.calls() or token.text.casefold() in KEYWORDS:
            raise self.refuse(_COMPARISON)
        return self.comparison(token)

    def close(self, opened: Token) -> None:
        if self.peek() is None:
            raise FilterError(f"the '(' at position {opened.position} is not closed")
        if self.take("')'").text != ")":
            raise self.refuse("and, or or ')'")

    def team(self) -> Filter:
        self.team_part(lambda token: token.text == "(")
        variable = self.team_part(lambda token: token.kind == "name")
        self.team_part(lambda token: token.text == ":")
        self.team_part(lambda token: token.text == f"{variable.text}/email")
        self.team_part(lambda token: token.text.casefold() == "eq")
        value = self.team_part(lambda token: token.kind == "string")
        self.team_part(lambda token: token.text == ")")
        return TeamMember(_unquote(value.text))

    def team_part(self, fits: Callable[[Token], bool]) -> Token:
        token = self.take("the rest of team/any(t:t/email eq '...')")
        if not fits(token):
            named = unsupported(token, self.peek())
            found = f"found {_shown(token)} at position {token.position}"
            raise FilterError(named or f"{_TEAM}, {found}")
        return token

    def comparison(self, name: Token) -> Filter:
        # ASCII only: casefolded, the long s (U+017F) would spell a field's 's'.
        field = _FIELDS_FOLDED.get(name.text.casefold()) if name.text.isascii() else None
        if field is None:
            named = unsupported(name, self.peek())
            raise FilterError(named or f"'{name.text}' cannot be filtered on; {SUPPORTED}")
        expected = f"an operator ({' '.join(OPERATORS)}) after '{name.text}'"
        operator = self.take(expected)
        if operator.text.casefold() not in OPERATORS:
            raise self.refuse(expected)
        op = cast(Operator, operator.text.casefold())
        return Comparison(FIELDS[field], op, self.value(field, op))

    def value(self, field: str, op: str) -> str | datetime | None:
        token = self.take(_VALUE)
        if token.kind == "name" and token.text == "null":
            if op not in ("eq", "ne"):
                raise FilterError(f"'{field}' can only be compared with null by eq or ne")
            return None
        if token.kind not in ("string", "datetime"):
            named = misplaced_value(field, token, self.calls())
            raise FilterError(named) if named else self.refuse(_VALUE)
        if FIELDS[field].kind is Kind.TIME:
            return _timestamp(token)
        if token.kind != "string":
            raise FilterError(
                f"'{field}' is compared with a quoted string, at position {token.position}"
            )
        return _member(field, _unquote(token.text))


def _shown(token: Token) -> str:
    return token.text if token.kind in ("string", "unclosed") else f"'{token.text}'"


def _member(field: str, text: str) -> str:
    """The value itself, or an enum field's canonical spelling of it."""
    enum = _ENUMS.get(field)
    if enum is None:
        return text
    try:
        return str(enum(text))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise FilterError(f"'{text}' is not a {field} value (one of {allowed})") from None


def _timestamp(token: Token) -> datetime:
    text = _unquote(token.text) if token.kind == "string" else token.text
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
