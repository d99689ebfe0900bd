"""The PostgreSQL schema as versioned migrations, applied at start under an advisory lock,
so replicas starting together migrate once. A database migrated by a newer version of the
service is refused rather than used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.errors import ConfigurationError

if TYPE_CHECKING:  # the stubs' generics are not subscriptable at run time
    from asyncpg import Connection, Record
    from asyncpg.pool import PoolConnectionProxy

    #: A connection, held directly or lent by the pool.
    Db = Connection[Record] | PoolConnectionProxy[Record]

_MIGRATION_LOCK = 0x5EF3_22A1
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
    # (service.store.rows.read_columns) so indexes serve them; filled from stored documents.
    (
        "ALTER TABLE referrals"
        " ADD COLUMN created timestamptz NOT NULL DEFAULT '0001-01-01T00:00:00Z',"
        " ADD COLUMN updated timestamptz NOT NULL DEFAULT '0001-01-01T00:00:00Z',"
        " ADD COLUMN engagement_id text, ADD COLUMN external_reference_id text,"
        " ADD COLUMN type text, ADD COLUMN qualification text, ADD COLUMN country text,"
        " ADD COLUMN direction text, ADD COLUMN team_emails text[] NOT NULL DEFAULT '{}'",
        """UPDATE referrals r SET
            created = coalesce((d.doc->>'createdDateTime')::timestamptz, r.created),
            updated = coalesce((d.doc->>'updatedDateTime')::timestamptz, r.updated),
            engagement_id = d.doc->>'engagementId',
            external_reference_id = d.doc->>'externalReferenceId',
            type = d.doc->>'type',
            qualification = d.doc->>'qualification',
            country = d.doc#>>'{customerProfile,address,country}',
            direction = d.doc->>'direction',
            team_emails = ARRAY(
                SELECT DISTINCT lower(m->>'email') FROM jsonb_array_elements(
                    CASE jsonb_typeof(d.doc->'team') WHEN 'array' THEN d.doc->'team'
                    ELSE '[]' END) AS m
                WHERE jsonb_typeof(m) = 'object' AND m->>'email' IS NOT NULL ORDER BY 1)
            FROM (SELECT tenant_id, id, convert_from(document, 'UTF8')::jsonb AS doc
                  FROM referrals) AS d
            WHERE (d.tenant_id, d.id) = (r.tenant_id, r.id)""",
        "CREATE INDEX referrals_by_created ON referrals (tenant_id, created, id)",
        "CREATE INDEX referrals_by_updated ON referrals (tenant_id, updated, id)",
        "CREATE INDEX referrals_by_status ON referrals (tenant_id, status, created, id)",
        "CREATE INDEX referrals_by_engagement ON referrals (tenant_id, engagement_id, created, id)",
        "CREATE INDEX referrals_by_external_id"
        " ON referrals (tenant_id, external_reference_id, created, id)",
        "CREATE INDEX referrals_by_team ON referrals USING gin (team_emails)",
        "ANALYZE referrals",  # the planner learns the new columns now, not at autovacuum's pace
    ),
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
)


async def migrate(db: Db) -> int:
    """Bring the schema to the latest version; returns that version."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
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
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
    return len(MIGRATIONS)
