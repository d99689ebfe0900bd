"""The read columns: fields of a referral the store keeps beside its document, so that the
read API's filters and orders are served by indexes. Declared once here; both stores'
schemas, migrations, written rows and queries are derived from this table.

Each column names the schema version that added it (one per backend), so a column added
later adds a migration of its own and the statements of the earlier ones never change.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from service.fast import referral as fast
from service.fast.schema import Referral as FastReferral
from state import Referral


class Kind(StrEnum):
    """How a filter compares a column's values."""

    TEXT = "text"
    TIME = "time"


class Storage(StrEnum):
    """What a read column holds, which decides how each backend stores and fills it."""

    TEXT = "text"
    TIME = "time"
    #: The set of lower-cased e-mails of the members of a document array (the team).
    EMAILS = "emails"


@dataclass(frozen=True, slots=True)
class Since:
    """The schema versions that added a column: the PostgreSQL migration, the SQLite schema."""

    postgresql: int
    sqlite: int


#: When the first read columns came.
FIRST_READ_COLUMNS: Final = Since(postgresql=4, sqlite=3)
#: What a time column holds for a referral without that timestamp (older documents).
NO_TIME: Final = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ReadColumn:
    """A field of the referral document held in a column of the referrals table."""

    name: str
    #: Where the field is in the document (its ``$filter`` name joins these with ``/``).
    path: tuple[str, ...]
    #: The column's value for a referral (a datetime, a str or None, or a sorted list).
    read: Callable[[Referral], object]
    #: The same value, of a referral the fast path keeps (``service.fast``); a time as the
    #: text the document holds (seven digits, ``Z``), which SQLite stores as it is.
    read_fast: Callable[[FastReferral], object]
    storage: Storage = Storage.TEXT
    #: Whether the read API filters on it by its path.
    filtered: bool = True
    since: Since = FIRST_READ_COLUMNS

    @property
    def filter_name(self) -> str:
        return "/".join(self.path)

    @property
    def kind(self) -> Kind:
        return Kind.TIME if self.storage is Storage.TIME else Kind.TEXT

    @property
    def sqlite_type(self) -> str:
        """Times are seven-digit UTC text, which sorts as time does; e-mails a JSON array."""
        return _SQLITE_TYPES[self.storage]

    @property
    def postgresql_type(self) -> str:
        return _POSTGRESQL_TYPES[self.storage]


_SQLITE_TYPES: Final = {
    Storage.TEXT: "TEXT",
    Storage.TIME: "TEXT NOT NULL DEFAULT '0001-01-01T00:00:00.0000000Z'",
    Storage.EMAILS: "TEXT NOT NULL DEFAULT '[]'",
}
_POSTGRESQL_TYPES: Final = {
    Storage.TEXT: "text",
    Storage.TIME: "timestamptz NOT NULL DEFAULT '0001-01-01T00:00:00Z'",
    Storage.EMAILS: "text[] NOT NULL DEFAULT '{}'",
}


def _enum_value(read: Callable[[Referral], object]) -> Callable[[Referral], str | None]:
    def value(referral: Referral) -> str | None:
        found = read(referral)
        return None if found is None else str(getattr(found, "value", found))

    return value


def _country(referral: Referral) -> str | None:
    address = referral.customer_profile.address if referral.customer_profile else None
    return address.country if address else None


def _direction(referral: Referral) -> str | None:
    direction = referral.to_document().get("direction")
    return direction if isinstance(direction, str) else None


def _team_emails(referral: Referral) -> list[str]:
    return sorted({m.email.lower() for m in referral.team or () if m.email})


#: The read columns, in the order of the referrals table and of every row a store writes.
READ_COLUMNS: Final = (
    ReadColumn("created", ("createdDateTime",), lambda r: r.created_date_time or NO_TIME,
               lambda r: fast.stored_time(r.created_date_time), Storage.TIME),
    ReadColumn("updated", ("updatedDateTime",), lambda r: r.updated_date_time or NO_TIME,
               lambda r: fast.stored_time(r.updated_date_time), Storage.TIME),
    ReadColumn("engagement_id", ("engagementId",), lambda r: r.engagement_id,
               lambda r: fast.text_or_none(r.engagement_id)),
    ReadColumn("external_reference_id", ("externalReferenceId",),
               lambda r: r.external_reference_id,
               lambda r: fast.text_or_none(r.external_reference_id)),
    ReadColumn("type", ("type",), _enum_value(lambda r: r.type),
               lambda r: fast.text_or_none(r.type)),
    ReadColumn("qualification", ("qualification",), _enum_value(lambda r: r.qualification),
               lambda r: fast.text_or_none(r.qualification)),
    ReadColumn("country", ("customerProfile", "address", "country"), _country, fast.country),
    # A document in the fast path's form has no field the schema does not name.
    ReadColumn("direction", ("direction",), _direction, lambda r: None),
    ReadColumn("team_emails", ("team",), _team_emails, fast.team_emails, Storage.EMAILS,
               filtered=False),
)  # fmt: skip
READ_COLUMN_NAMES: Final = tuple(column.name for column in READ_COLUMNS)
#: The team's e-mails: a filter on a member reads them (a table of their own in SQLite).
TEAM_EMAILS: Final = READ_COLUMNS[READ_COLUMN_NAMES.index("team_emails")]
_TEAM_EMAILS_AT: Final = READ_COLUMNS.index(TEAM_EMAILS)


@dataclass(frozen=True, slots=True)
class ReadIndex:
    """An index of the referrals table that serves reads; ``keys`` follows ``ON referrals``."""

    name: str
    keys: str
    since: Since = FIRST_READ_COLUMNS
    #: False where the backend serves the same reads another way.
    in_sqlite: bool = True


#: In the order the migration that added them creates them.
READ_INDEXES: Final = (
    ReadIndex("referrals_by_created", "(tenant_id, created, id)"),
    ReadIndex("referrals_by_updated", "(tenant_id, updated, id)"),
    ReadIndex("referrals_by_status", "(tenant_id, status, created, id)"),
    ReadIndex("referrals_by_engagement", "(tenant_id, engagement_id, created, id)"),
    ReadIndex("referrals_by_external_id", "(tenant_id, external_reference_id, created, id)"),
    # SQLite finds a member's referrals through its referral_team table.
    ReadIndex("referrals_by_team", "USING gin (team_emails)", in_sqlite=False),
)


def read_values(referral: Referral | FastReferral) -> tuple[object, ...]:
    """The referral's read column values, in table order."""
    if isinstance(referral, FastReferral):
        return tuple(column.read_fast(referral) for column in READ_COLUMNS)
    return tuple(column.read(referral) for column in READ_COLUMNS)


def team_emails_of(values: tuple[object, ...]) -> list[str]:
    """The team's e-mails among a referral's read column values."""
    emails = values[_TEAM_EMAILS_AT]
    assert isinstance(emails, list)
    return emails
