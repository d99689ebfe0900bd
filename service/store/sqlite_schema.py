"""The SQLite store's schema and its version.

A file of an older schema is upgraded in place, one version at a time, each step in one
transaction. A database file written by a newer version of the service is refused rather
than used: its schema may hold what this version cannot read or would silently drop.
"""

import sqlite3
from pathlib import Path
from typing import Final

from service.errors import ConfigurationError
from service.store.columns import READ_COLUMNS, READ_INDEXES, TEAM_EMAILS, ReadColumn, Storage

SCHEMA_VERSION = 7
#: The referrals table as version 2 made it (the step to version 3 adds the read columns).
_REFERRALS_V2: Final = """
CREATE TABLE IF NOT EXISTS {table} (
    tenant_id TEXT NOT NULL DEFAULT '',
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    substatus TEXT NOT NULL,
    expiration TEXT,
    document BLOB NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
"""
_REFERRALS: Final = _REFERRALS_V2.replace(
    "    PRIMARY KEY",
    "".join(f"    {column.name} {column.sqlite_type},\n" for column in READ_COLUMNS)
    + "    PRIMARY KEY",
)
#: The processed commands as version 2 made them (the step to version 7 adds the reason).
_PROCESSED_V2: Final = """
CREATE TABLE IF NOT EXISTS {table} (
    tenant_id TEXT NOT NULL DEFAULT '',
    command_id TEXT NOT NULL,
    referral_id TEXT,
    outcome TEXT NOT NULL,
    processed_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, command_id)
);
"""
_PROCESSED: Final = _PROCESSED_V2.replace("    PRIMARY KEY", "    rejection TEXT,\n    PRIMARY KEY")
#: Who is on each referral's team, by e-mail: a team filter reads its few referrals from here.
_TEAM: Final = """
CREATE TABLE IF NOT EXISTS referral_team (
    email TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    referral_id TEXT NOT NULL,
    PRIMARY KEY (email, tenant_id, referral_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS referral_team_by_referral ON referral_team (tenant_id, referral_id);
"""
_READ_INDEXES: Final = "\n".join(
    f"CREATE INDEX IF NOT EXISTS {index.name} ON referrals {index.keys};"
    for index in READ_INDEXES
    if index.in_sqlite
)
#: Runs of outbox rows published and not yet deleted (``sqlite_outbox``): a publish marks
#: what it published here, a few bytes, and the next batch's write of any process deletes
#: the rows and their marks with its own pages.
_PUBLISHED: Final = """
CREATE TABLE IF NOT EXISTS outbox_published (first INTEGER NOT NULL, last INTEGER NOT NULL);
"""
#: Webhook registrations, one per tenant, and the deliveries recorded with their events
#: (``service.store.webhooks``); times are seconds since the epoch.
_WEBHOOKS: Final = """
CREATE TABLE IF NOT EXISTS webhook_registrations (
    tenant_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    referral_id TEXT NOT NULL,
    event TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    retry_from REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_attempt);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_tenant
    ON webhook_deliveries (tenant_id, state);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_referral
    ON webhook_deliveries (tenant_id, referral_id, seq);
"""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
{_REFERRALS.format(table="referrals")}
{_PROCESSED.format(table="processed_commands")}
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
{_PUBLISHED}
CREATE TABLE IF NOT EXISTS service_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_by_partition ON outbox (source_partition, seq);
CREATE INDEX IF NOT EXISTS outbox_by_key ON outbox (key, seq);
CREATE INDEX IF NOT EXISTS referrals_due ON referrals (expiration, tenant_id, id)
    WHERE status = 'New';
CREATE INDEX IF NOT EXISTS processed_commands_age ON processed_commands (processed_at);
{_TEAM}
CREATE INDEX IF NOT EXISTS referrals_by_state ON referrals (status, substatus);
{_READ_INDEXES}
{_WEBHOOKS}
"""
#: Version 1 keyed referrals and processed commands by their id alone. Their tenant joins
#: the key; a processed command takes the tenant of the referral it named, if any.
_TENANT_SCOPED_IDS: Final = f"""
{_REFERRALS_V2.format(table="referrals_v2")}
INSERT INTO referrals_v2 (tenant_id, id, version, status, substatus, expiration, document)
    SELECT coalesce(tenant_id, ''), id, version, status, substatus, expiration, document
    FROM referrals;
{_PROCESSED_V2.format(table="processed_commands_v2")}
INSERT INTO processed_commands_v2 (tenant_id, command_id, referral_id, outcome, processed_at)
    SELECT coalesce((SELECT r.tenant_id FROM referrals r WHERE r.id = p.referral_id), ''),
        p.command_id, p.referral_id, p.outcome, p.processed_at
    FROM processed_commands p;
DROP TABLE referrals;
DROP TABLE processed_commands;
ALTER TABLE referrals_v2 RENAME TO referrals;
ALTER TABLE processed_commands_v2 RENAME TO processed_commands;
"""
#: A referral's team e-mails, from its stored document.
_TEAM_EMAILS: Final = """(SELECT json_group_array(lower(json_extract(m.value, '$.email')))
    FROM json_each(CAST(document AS TEXT), '$.{field}') AS m
    WHERE m.type = 'object' AND json_extract(m.value, '$.email') IS NOT NULL)"""


def _filled(column: ReadColumn) -> str:
    """The column's value for a stored referral, read from its document."""
    if column.storage is Storage.EMAILS:
        return _TEAM_EMAILS.format(field=".".join(column.path))
    path = ".".join(("$", *column.path))
    return f"coalesce(json_extract(CAST(document AS TEXT), '{path}'), {column.name})"


def _read_columns_added(version: int) -> str:
    """The step to ``version``: its read columns added and filled from stored documents."""
    added = [column for column in READ_COLUMNS if column.since.sqlite == version]
    step = "".join(f"ALTER TABLE referrals ADD COLUMN {c.name} {c.sqlite_type};\n" for c in added)
    step += f"UPDATE referrals SET {', '.join(f'{c.name} = {_filled(c)}' for c in added)};\n"
    if TEAM_EMAILS in added:
        step += _TEAM + (
            "INSERT OR IGNORE INTO referral_team (email, tenant_id, referral_id) SELECT e.value,"
            " r.tenant_id, r.id FROM referrals AS r, json_each(r.team_emails) AS e;\n"
        )
    return step


#: From version 4 an outbox row's headers are packed (``rows.headers_packed``, a BLOB in
#: the TEXT column); rows stored before keep their JSON text and are read as such. No table
#: changes: the version is there so that an older service, which cannot read packed
#: headers, refuses the file instead of failing on its rows.
_PACKED_HEADERS: Final = ""
#: From version 7 a rejected command's reason is kept beside its record (NULL before).
_REJECTION_REASONS: Final = "ALTER TABLE processed_commands ADD COLUMN rejection TEXT;"
#: The step that brings a file from the version before each key to that version.
_UPGRADES: Final = {
    2: _TENANT_SCOPED_IDS,
    3: _read_columns_added(3),
    4: _PACKED_HEADERS,
    5: _PUBLISHED,
    6: _WEBHOOKS,
    7: _REJECTION_REASONS,
}


def prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Create the schema where it is missing, upgrade an older one, refuse a newer one."""
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
    found = row[0] if row else None
    if found is not None and found > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the SQLite store {path} has schema version {found}, newer than this"
            f" service's {SCHEMA_VERSION}: run the newer service or another file"
        )
    for version in range((found or SCHEMA_VERSION) + 1, SCHEMA_VERSION + 1):
        try:
            connection.executescript(
                f"BEGIN IMMEDIATE; {_UPGRADES[version]}"
                f" INSERT INTO schema_version VALUES ({version}); COMMIT;"
            )
        except BaseException:
            if connection.in_transaction:
                connection.rollback()
            raise
    connection.executescript(_SCHEMA)
    if found is None:
        connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))


def require_current(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a file whose schema is not this version's, without changing it."""
    found = None
    if connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone():
        found = connection.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    if found == SCHEMA_VERSION:
        return
    held = "no schema" if found is None else f"schema version {found}"
    if found is None:
        remedy = "run `referrals migrate` to create it"
    elif found > SCHEMA_VERSION:
        remedy = "it is newer: run the newer service"
    else:
        remedy = "it is older: run `referrals migrate` to upgrade it"
    raise ConfigurationError(
        f"the SQLite store {path} has {held}, not this service's {SCHEMA_VERSION}: {remedy}"
    )
