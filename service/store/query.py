"""What a reader asks of the store: a filter as a small expression tree, an order, a page.

The tree is built by the API's ``$filter`` parser and compiled here into a parameterised
SQL condition for each backend: values only ever travel as parameters, never in the SQL
text. Comparisons are two-valued as in OData: a missing value is not equal to anything,
so ``ne`` and ``not`` include the referrals that lack the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from service.store.columns import READ_COLUMNS
from service.store.columns import Kind as Kind  # the filter kinds, declared with the columns
from state.fields import parse_utc

Operator = Literal["eq", "ne", "gt", "ge", "lt", "le"]
Value = str | datetime | None
_SQL_OPERATORS: Final[dict[str, str]] = {
    "eq": "=",
    "ne": "<>",
    "gt": ">",
    "ge": ">=",
    "lt": "<",
    "le": "<=",
}


@dataclass(frozen=True, slots=True)
class Column:
    """A filterable field of the referral document and the column that holds it."""

    name: str
    kind: Kind = Kind.TEXT


#: The document's paths as ``$filter`` names them, and the referrals' columns.
FIELDS: Final[dict[str, Column]] = {
    "id": Column("id"),
    "status": Column("status"),
    "substatus": Column("substatus"),
    **{c.filter_name: Column(c.name, c.kind) for c in READ_COLUMNS if c.filtered},
    "expirationDateTime": Column("expiration", Kind.TIME),
}
#: The fields a list may be ordered by (Partner Center's two).
ORDER_FIELDS: Final[dict[str, Column]] = {
    name: FIELDS[name] for name in ("createdDateTime", "updatedDateTime")
}


@dataclass(frozen=True, slots=True)
class Comparison:
    column: Column
    operator: Operator
    value: Value


@dataclass(frozen=True, slots=True)
class TeamMember:
    """``team/any(t: t/email eq '...')``: a member of the referral's team has the e-mail."""

    email: str


@dataclass(frozen=True, slots=True)
class All:
    operands: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Any:
    operands: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Filter


Filter = Comparison | TeamMember | All | Any | Not


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the order column's value, then the tenant and the id."""

    value: str
    tenant_id: str
    referral_id: str


@dataclass(frozen=True, slots=True)
class ReferralQuery:
    """One page of referrals. ``tenant_id`` None means every tenant (and the tenant-less)."""

    tenant_id: str | None
    where: Filter | None = None
    order: Column = FIELDS["createdDateTime"]
    descending: bool = False
    limit: int = 100
    after: Position | None = None


@dataclass(frozen=True, slots=True)
class Page:
    documents: list[bytes]
    #: The position of each document, for a continuation after it.
    positions: list[Position]
    total: int | None = None


@dataclass
class Dialect:
    """How one backend writes a parameter, a time value and the team-member test."""

    placeholder: Callable[[int], str]
    time_value: Callable[[datetime], object]
    team_member: Callable[[str], str]
    #: False: the order columns are written ``+column`` (SQLite), so no index on them is
    #: walked, for a query whose few matches are found another way.
    indexed_order: bool = True
    params: list[object] = field(default_factory=list)

    def param(self, value: object) -> str:
        self.params.append(value)
        return self.placeholder(len(self.params))


def condition(query: ReferralQuery, dialect: Dialect, *, paged: bool = True) -> str:
    """The SQL condition selecting the query's referrals (past its position when ``paged``)."""
    parts = ["TRUE"]
    if query.tenant_id is not None:
        parts.append(f"tenant_id = {dialect.param(query.tenant_id)}")
    if query.where is not None:
        parts.append(compile_filter(query.where, dialect))
    if paged and query.after is not None:
        parts.append(_past(query, query.after, dialect))
    return " AND ".join(parts)


def ordering(query: ReferralQuery, dialect: Dialect) -> str:
    direction = "DESC" if query.descending else "ASC"
    return ", ".join(f"{column} {direction}" for column in _order_key(query, dialect))


def _order_key(query: ReferralQuery, dialect: Dialect) -> tuple[str, ...]:
    # Within one tenant the tenant is constant: leaving it out lets the (tenant, column,
    # id) index serve both the order and the position.
    names = ("id",) if query.tenant_id is not None else ("tenant_id", "id")
    key = (query.order.name, *names)
    return key if dialect.indexed_order else tuple(f"+{name}" for name in key)


def compile_filter(node: Filter, dialect: Dialect) -> str:
    if isinstance(node, Comparison):
        return _comparison(node, dialect)
    if isinstance(node, TeamMember):
        return dialect.team_member(dialect.param(node.email.lower()))
    if isinstance(node, Not):
        return f"NOT ({compile_filter(node.operand, dialect)})"
    joiner = " AND " if isinstance(node, All) else " OR "
    return "(" + joiner.join(f"({compile_filter(o, dialect)})" for o in node.operands) + ")"


def _comparison(node: Comparison, dialect: Dialect) -> str:
    column = node.column.name
    if node.value is None:
        return f"{column} IS NULL" if node.operator == "eq" else f"{column} IS NOT NULL"
    value = dialect.time_value(node.value) if isinstance(node.value, datetime) else node.value
    mark = dialect.param(value)
    if node.operator == "ne":
        return f"({column} <> {mark} OR {column} IS NULL)"
    return f"({column} {_SQL_OPERATORS[node.operator]} {mark} AND {column} IS NOT NULL)"


def _past(query: ReferralQuery, after: Position, dialect: Dialect) -> str:
    """Rows after ``after`` in the query's order (order columns are never NULL)."""
    sign = "<" if query.descending else ">"
    values = [dialect.param(_order_value(after.value, query.order, dialect))]
    if query.tenant_id is None:
        values.append(dialect.param(after.tenant_id))
    values.append(dialect.param(after.referral_id))
    return f"({', '.join(_order_key(query, dialect))}) {sign} ({', '.join(values)})"


def _order_value(text: str, column: Column, dialect: Dialect) -> object:
    return dialect.time_value(parse_utc(text)) if column.kind is Kind.TIME else text
