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
