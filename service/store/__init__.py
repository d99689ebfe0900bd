"""Store backends behind one port, chosen by the database URL."""

from service.errors import ConfigurationError
from service.store.base import BatchWrite, OutboxEntry, ProcessedCommand, ReferralWrite, Store
from service.store.sqlite import SqliteStore, sqlite_path


def open_store(url: str) -> Store:
    """The backend for a ``REFERRALS_DATABASE_URL``; call ``await store.open()`` next."""
    if url.startswith("sqlite://"):
        return SqliteStore(sqlite_path(url))
    scheme = url.partition("://")[0] or url
    raise ConfigurationError(f"unsupported database URL scheme '{scheme}' (use sqlite://)")


__all__ = [
    "BatchWrite",
    "OutboxEntry",
    "ProcessedCommand",
    "ReferralWrite",
    "SqliteStore",
    "Store",
    "open_store",
]
