"""The SQLite store's schema and its version.

A database file written by a newer version of the service is refused rather than used:
its schema may hold what this version cannot read or would silently drop.
"""

import sqlite3
from pathlib import Path

from service.errors import ConfigurationError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS referrals (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    substatus TEXT NOT NULL,
    tenant_id TEXT,
    expiration TEXT,
    document BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS processed_commands (
    command_id TEXT PRIMARY KEY,
    referral_id TEXT,
    outcome TEXT NOT NULL,
    processed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source_partition INTEGER NOT NULL,
    topic TEXT NOT NULL,
    key BLOB,
    value BLOB,
    headers TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_partition ON outbox (source_partition, seq);
CREATE INDEX IF NOT EXISTS outbox_by_key ON outbox (key, seq);
CREATE INDEX IF NOT EXISTS referrals_due ON referrals (expiration) WHERE status = 'New';
CREATE INDEX IF NOT EXISTS processed_commands_age ON processed_commands (processed_at);
"""


def prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Create the schema where it is missing; refuse a file from a newer schema."""
    connection.executescript(_SCHEMA)
    row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
    found = row[0] if row else None
    if found is None:
        connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
    elif found > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the SQLite store {path} has schema version {found}, newer than this"
            f" service's {SCHEMA_VERSION}: run the newer service or another file"
        )
