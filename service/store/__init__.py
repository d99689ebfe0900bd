"""Store backends behind one port, chosen by the database URL."""

from service.errors import ConfigurationError
from service.store.base import (
    BatchWrite,
    ExpiryCandidate,
    ExpiryPosition,
    OutboxEntry,
    ProcessedCommand,
    Publish,
    ReadReferral,
    ReferralWrite,
    Store,
)
from service.store.postgres import PostgresStore
from service.store.postgres_pool import PostgresBounds
from service.store.sqlite import SqliteStore, sqlite_path


def store_backend(url: str) -> str:
    """The backend a database URL names (``sqlite``, ``postgresql``), without its secrets."""
    scheme = url.partition("://")[0]
    return "postgresql" if scheme == "postgres" else scheme


def open_store(
    url: str,
    pool_size: int = 5,
    bounds: PostgresBounds | None = None,
    *,
    sqlite_writes_beside: bool = False,
) -> Store:
    """The backend for a ``REFERRALS_DATABASE_URL``; call ``await store.open()`` next
    (``open(migrate=False)`` for a reader). ``bounds``: PostgreSQL's waits;
    ``sqlite_writes_beside``: a SQLite store's choice (``SqliteStore``)."""
    if url.startswith("sqlite://"):
        return SqliteStore(sqlite_path(url), writes_beside=sqlite_writes_beside)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, pool_size, bounds)
    scheme = url.partition("://")[0] or url
    raise ConfigurationError(
        f"unsupported database URL scheme '{scheme}' (use sqlite:// or postgresql://)"
    )


__all__ = [
    "BatchWrite",
    "ExpiryCandidate",
    "ExpiryPosition",
    "OutboxEntry",
    "PostgresBounds",
    "PostgresStore",
    "ProcessedCommand",
    "Publish",
    "ReadReferral",
    "ReferralWrite",
    "SqliteStore",
    "Store",
    "open_store",
    "store_backend",
]
