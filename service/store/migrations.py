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
