"""The PostgreSQL schema as versioned migrations, applied at start under an advisory lock,
so replicas starting together migrate once. A database migrated by a newer version of the
service is refused rather than used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.errors import ConfigurationError
from service.store.columns import READ_COLUMNS, READ_INDEXES, ReadColumn, Storage

if TYPE_CHECKING:  # the stubs' generics are not subscriptable at run time
    from asyncpg import Connection, Record
    from asyncpg.pool import PoolConnectionProxy

    #: A connection, held directly or lent by the pool.
    Db = Connection[Record] | PoolConnectionProxy[Record]

_MIGRATION_LOCK = 0x5EF3_22A1
#: A referral's team e-mails, from its stored document.
_TEAM_EMAILS = """ARRAY(
    SELECT DISTINCT lower(m->>'email') FROM jsonb_array_elements(
        CASE jsonb_typeof(d.doc->'{field}') WHEN 'array' THEN d.doc->'{field}'
        ELSE '[]' END) AS m
    WHERE jsonb_typeof(m) = 'object' AND m->>'email' IS NOT NULL ORDER BY 1)"""


def _filled(column: ReadColumn) -> str:
    """The column's value for a stored referral, read from its document ``d.doc``."""
    if column.storage is Storage.EMAILS:
        return _TEAM_EMAILS.format(field=column.path[0])
    if len(column.path) == 1:
        text = f"d.doc->>'{column.path[0]}'"
    else:
        text = f"d.doc#>>'{{{','.join(column.path)}}}'"
    if column.storage is Storage.TIME:
        return f"coalesce(({text})::timestamptz, r.{column.name})"
    return text


def _read_columns_added(version: int) -> tuple[str, ...]:
    """The migration to ``version``: its read columns added and filled from the stored
    documents, its read indexes made."""
    added = [column for column in READ_COLUMNS if column.since.postgresql == version]
    alter = ", ".join(f"ADD COLUMN {c.name} {c.postgresql_type}" for c in added)
    fill = ", ".join(f"{c.name} = {_filled(c)}" for c in added)
    indexes = [index for index in READ_INDEXES if index.since.postgresql == version]
    return (
        f"ALTER TABLE referrals {alter}",
        f"UPDATE referrals r SET {fill}"
        " FROM (SELECT tenant_id, id, convert_from(document, 'UTF8')::jsonb AS doc"
        " FROM referrals) AS d WHERE (d.tenant_id, d.id) = (r.tenant_id, r.id)",
        *(f"CREATE INDEX {index.name} ON referrals {index.keys}" for index in indexes),
        "ANALYZE referrals",  # the planner learns the new columns now, not at autovacuum's pace
    )


#: Append-only: each entry upgrades the schema by one version.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE referrals (
            id text PRIMARY KEY,
            version bigint NOT NULL,
            status text NOT NULL,
            substatus text NOT NULL,
            tenant_id text,
            expiration timestamptz,
            document bytea NOT NULL
        )""",
        "CREATE INDEX referrals_due ON referrals (expiration) WHERE status = 'New'",
        """CREATE TABLE processed_commands (
            command_id text PRIMARY KEY,
            referral_id text,
            outcome text NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now()
        )""",
        "CREATE INDEX processed_commands_age ON processed_commands (processed_at)",
        """CREATE TABLE outbox (
            seq bigserial PRIMARY KEY,
            source_partition integer NOT NULL,
            topic text NOT NULL,
            key bytea,
            value bytea,
            headers text NOT NULL,
            kind text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
        "CREATE INDEX outbox_by_partition ON outbox (source_partition, seq)",
    ),
    # Referral and command ids are scoped by tenant: (tenant, id) keys; '' is tenant-less.
    # A processed command takes the tenant of the referral it named, if any. Expiry reads
    # due referrals in (expiration, tenant, id) order; the service keeps its secrets.
    (
        "UPDATE referrals SET tenant_id = '' WHERE tenant_id IS NULL",
        "ALTER TABLE referrals ALTER COLUMN tenant_id SET DEFAULT '',"
        " ALTER COLUMN tenant_id SET NOT NULL",
        "ALTER TABLE processed_commands ADD COLUMN tenant_id text NOT NULL DEFAULT ''",
        "UPDATE processed_commands p SET tenant_id = r.tenant_id FROM referrals r"
        " WHERE r.id = p.referral_id",
        "ALTER TABLE referrals DROP CONSTRAINT referrals_pkey, ADD PRIMARY KEY (tenant_id, id)",
        "ALTER TABLE processed_commands DROP CONSTRAINT processed_commands_pkey,"
        " ADD PRIMARY KEY (tenant_id, command_id)",
        "DROP INDEX referrals_due",
        "CREATE INDEX referrals_due ON referrals (expiration, tenant_id, id) WHERE status = 'New'",
        "CREATE TABLE service_secrets (name text PRIMARY KEY, value bytea NOT NULL)",
    ),
    # A publisher locks the unpublished rows of the referrals it publishes, by key.
    ("CREATE INDEX outbox_by_key ON outbox (key, seq)",),
    # Reads filter and order on these fields of the document, kept in columns of their own
    # (service.store.columns) so indexes serve them; filled from stored documents.
    _read_columns_added(4),
    # A batch is written in one statement, which refuses itself when another replica wrote
    # one of its rows first (service.errors.STALE_WRITE_SQLSTATE).
    (
        """CREATE FUNCTION referrals_stale_write(reason text) RETURNS boolean
        LANGUAGE plpgsql AS $$
        BEGIN
            IF reason IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'RL409', MESSAGE = reason;
            END IF;
            RETURN false;
        END $$""",
    ),
    # The referrals per state are counted from an index of the state alone, not by reading
    # every row (service.app: the referrals_current gauge).
    ("CREATE INDEX referrals_by_state ON referrals (status, substatus)",),
    # A record key may be longer than a btree entry holds (about 2.7 KB): the rows of a key
    # are found by its SHA-256 digest instead, computed by the server for every row.
    (
        "ALTER TABLE outbox ADD COLUMN key_digest bytea GENERATED ALWAYS AS (sha256(key)) STORED",
        "DROP INDEX outbox_by_key",
        "CREATE INDEX outbox_by_key_digest ON outbox (key_digest, seq)",
    ),
    # Webhook registrations, one per tenant, and the deliveries recorded with their events
    # (service.store.webhooks).
    (
        """CREATE TABLE webhook_registrations (
            tenant_id text PRIMARY KEY,
            url text NOT NULL,
            events text[] NOT NULL,
            secret text NOT NULL,
            state text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE webhook_deliveries (
            seq bigserial PRIMARY KEY,
            id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
            tenant_id text NOT NULL,
            referral_id text NOT NULL,
            event text NOT NULL,
            changed_at text NOT NULL,
            state text NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt timestamptz NOT NULL DEFAULT now(),
            retry_from timestamptz NOT NULL DEFAULT now(),
            last_error text,
            delivered_at timestamptz
        )""",
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt)"
        " WHERE state = 'pending'",
        "CREATE INDEX webhook_deliveries_by_tenant ON webhook_deliveries (tenant_id, state, seq)",
        "CREATE INDEX webhook_deliveries_by_referral ON webhook_deliveries"
        " (tenant_id, referral_id, seq)",
    ),
    # A rejected command's reason, kept beside its record (NULL for the others and for
    # the records written before): the write API answers with it after a restart.
    ("ALTER TABLE processed_commands ADD COLUMN rejection text",),
)


async def migrate(db: Db, statement_timeout: float | None = None) -> int:
    """Bring the schema to the latest version; returns that version. ``statement_timeout``
    bounds each statement (None: the connection's own bound)."""
    async with db.transaction():
        await db.execute(
            "SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK, timeout=statement_timeout
        )
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await db.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
        if current > len(MIGRATIONS):
            raise ConfigurationError(
                f"the PostgreSQL database has schema version {current}, newer than this"
                f" service's {len(MIGRATIONS)}: run the newer service"
            )
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version > current:
                for statement in statements:
                    await db.execute(statement, timeout=statement_timeout)
                await db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
    return len(MIGRATIONS)


async def require_current(db: Db) -> None:
    """Refuse a database whose schema is not this version's, without changing it."""
    found = None
    if await db.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        found = await db.fetchval("SELECT max(version) FROM schema_migrations")
    if found == len(MIGRATIONS):
        return
    held = "no schema" if found is None else f"schema version {found}"
    if found is None:
        remedy = "run `referrals migrate` to create it"
    elif found > len(MIGRATIONS):
        remedy = "it is newer: run the newer service"
    else:
        remedy = "it is older: run `referrals migrate` to upgrade it"
    raise ConfigurationError(
        f"the PostgreSQL database has {held}, not this service's {len(MIGRATIONS)}: {remedy}"
    )
