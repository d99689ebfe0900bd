"""The schema the read column table derives is the schema that shipped: migrations already
applied by a database never change, and a fresh schema equals an upgraded one."""

import contextlib
import re
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from service.errors import ConfigurationError
from service.store import BatchWrite, PostgresStore, SqliteStore
from service.store.columns import READ_COLUMNS
from service.store.migrations import MIGRATIONS
from service.store.sqlite_schema import SCHEMA_VERSION, prepare
from tests.support.legacy_schemas import SQLITE_VERSION_1

#: PostgreSQL migration 4 as it shipped, before it was derived from the read column table.
SHIPPED_MIGRATION_4 = [
    (
        "ALTER TABLE referrals ADD COLUMN created timestamptz NOT NULL DEFAULT "
        "'0001-01-01T00:00:00Z', ADD COLUMN updated timestamptz NOT NULL DEFAULT "
        "'0001-01-01T00:00:00Z', ADD COLUMN engagement_id text, ADD COLUMN "
        "external_reference_id text, ADD COLUMN type text, ADD COLUMN qualification text, ADD "
        "COLUMN country text, ADD COLUMN direction text, ADD COLUMN team_emails text[] NOT "
        "NULL DEFAULT '{}'"
    ),
    (
        "UPDATE referrals r SET created = coalesce((d.doc->>'createdDateTime')::timestamptz, "
        "r.created), updated = coalesce((d.doc->>'updatedDateTime')::timestamptz, r.updated), "
        "engagement_id = d.doc->>'engagementId', external_reference_id = "
        "d.doc->>'externalReferenceId', type = d.doc->>'type', qualification = "
        "d.doc->>'qualification', country = d.doc#>>'{customerProfile,address,country}', "
        "direction = d.doc->>'direction', team_emails = ARRAY( SELECT DISTINCT "
        "lower(m->>'email') FROM jsonb_array_elements( CASE jsonb_typeof(d.doc->'team') WHEN "
        "'array' THEN d.doc->'team' ELSE '[]' END) AS m WHERE jsonb_typeof(m) = 'object' AND "
        "m->>'email' IS NOT NULL ORDER BY 1) FROM (SELECT tenant_id, id, "
        "convert_from(document, 'UTF8')::jsonb AS doc FROM referrals) AS d WHERE "
        "(d.tenant_id, d.id) = (r.tenant_id, r.id)"
    ),
    "CREATE INDEX referrals_by_created ON referrals (tenant_id, created, id)",
    "CREATE INDEX referrals_by_updated ON referrals (tenant_id, updated, id)",
    "CREATE INDEX referrals_by_status ON referrals (tenant_id, status, created, id)",
    ("CREATE INDEX referrals_by_engagement ON referrals (tenant_id, engagement_id, created, id)"),
    (
        "CREATE INDEX referrals_by_external_id ON referrals (tenant_id, "
        "external_reference_id, created, id)"
    ),
    "CREATE INDEX referrals_by_team ON referrals USING gin (team_emails)",
    "ANALYZE referrals",
]
#: The SQLite step to schema 3 as it shipped.
SHIPPED_SQLITE_STEP_3 = (
    "ALTER TABLE referrals ADD COLUMN created TEXT NOT NULL DEFAULT "
    "'0001-01-01T00:00:00.0000000Z'; ALTER TABLE referrals ADD COLUMN updated TEXT NOT "
    "NULL DEFAULT '0001-01-01T00:00:00.0000000Z'; ALTER TABLE referrals ADD COLUMN "
    "engagement_id TEXT; ALTER TABLE referrals ADD COLUMN external_reference_id TEXT; "
    "ALTER TABLE referrals ADD COLUMN type TEXT; ALTER TABLE referrals ADD COLUMN "
    "qualification TEXT; ALTER TABLE referrals ADD COLUMN country TEXT; ALTER TABLE "
    "referrals ADD COLUMN direction TEXT; ALTER TABLE referrals ADD COLUMN team_emails "
    "TEXT NOT NULL DEFAULT '[]'; UPDATE referrals SET created = "
    "coalesce(json_extract(CAST(document AS TEXT), '$.createdDateTime'), created), "
    "updated = coalesce(json_extract(CAST(document AS TEXT), '$.updatedDateTime'), "
    "updated), engagement_id = coalesce(json_extract(CAST(document AS TEXT), "
    "'$.engagementId'), engagement_id), external_reference_id = "
    "coalesce(json_extract(CAST(document AS TEXT), '$.externalReferenceId'), "
    "external_reference_id), type = coalesce(json_extract(CAST(document AS TEXT), "
    "'$.type'), type), qualification = coalesce(json_extract(CAST(document AS TEXT), "
    "'$.qualification'), qualification), country = coalesce(json_extract(CAST(document AS "
    "TEXT), '$.customerProfile.address.country'), country), direction = "
    "coalesce(json_extract(CAST(document AS TEXT), '$.direction'), direction), "
    "team_emails = (SELECT json_group_array(lower(json_extract(m.value, '$.email'))) FROM "
    "json_each(CAST(document AS TEXT), '$.team') AS m WHERE m.type = 'object' AND "
    "json_extract(m.value, '$.email') IS NOT NULL); CREATE TABLE IF NOT EXISTS "
    "referral_team ( email TEXT NOT NULL, tenant_id TEXT NOT NULL, referral_id TEXT NOT "
    "NULL, PRIMARY KEY (email, tenant_id, referral_id) ) WITHOUT ROWID; CREATE INDEX IF "
    "NOT EXISTS referral_team_by_referral ON referral_team (tenant_id, referral_id); "
    "INSERT OR IGNORE INTO referral_team (email, tenant_id, referral_id) SELECT e.value, "
    "r.tenant_id, r.id FROM referrals AS r, json_each(r.team_emails) AS e;"
)


def normalized(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def test_the_derived_postgresql_migration_is_the_one_that_shipped() -> None:
    assert [normalized(s) for s in MIGRATIONS[3]] == [normalized(s) for s in SHIPPED_MIGRATION_4]


def test_the_derived_sqlite_upgrade_is_the_one_that_shipped() -> None:
    from service.store.sqlite_schema import _UPGRADES

    assert normalized(_UPGRADES[3]) == normalized(SHIPPED_SQLITE_STEP_3)


def _sqlite_catalog(path: Path) -> dict[str, object]:
    """Each table's columns (name, type, not null, default, key) and each index's columns."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        catalog: dict[str, object] = {}
        for table in tables:
            catalog[table] = sorted(tuple(r[1:]) for r in db.execute(f"PRAGMA table_info({table})"))
            for index in db.execute(f"PRAGMA index_list({table})"):
                info = db.execute(f"PRAGMA index_info({index[1]})")
                catalog[f"{table}.{index[1]}"] = [r[2] for r in info]
        return catalog


def test_a_fresh_sqlite_file_has_the_schema_of_one_upgraded_from_the_first(tmp_path: Path) -> None:
    fresh, upgraded = tmp_path / "fresh.db", tmp_path / "upgraded.db"
    with contextlib.closing(sqlite3.connect(upgraded)) as db, db:
        db.executescript(SQLITE_VERSION_1)
    for path in (fresh, upgraded):
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            prepare(db, path)

    assert _sqlite_catalog(fresh) == _sqlite_catalog(upgraded)
    assert {c.name for c in READ_COLUMNS} <= {
        column[0]
        for column in _sqlite_catalog(fresh)["referrals"]  # type: ignore[attr-defined]
    }


@pytest.mark.postgres
async def test_the_migrated_postgresql_columns_are_those_the_table_declares(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    await store.open()
    await store.close()
    db = await asyncpg.connect(postgres_url)
    try:
        rows = await db.fetch(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,"
            " pg_get_expr(d.adbin, d.adrelid) AS default FROM pg_attribute a"
            " LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)"
            " WHERE a.attrelid = 'referrals'::regclass AND a.attnum > 0"
        )
        declared = {
            c.name: await db.fetchval(
                "SELECT format_type($1::text::regtype, NULL)", c.postgresql_type.split(" ")[0]
            )
            for c in READ_COLUMNS
        }
    finally:
        await db.close()
    found = {row["attname"]: row for row in rows}
    for column in READ_COLUMNS:
        assert found[column.name]["type"] == declared[column.name], column.name
        assert found[column.name]["attnotnull"] == ("NOT NULL" in column.postgresql_type)


async def test_a_sqlite_reader_refuses_a_missing_file_and_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    store = SqliteStore(path)
    with pytest.raises(ConfigurationError, match="no SQLite store at"):
        await store.open(migrate=False)
    await store.close()
    assert not path.exists()


async def test_a_sqlite_reader_refuses_an_older_schema_and_leaves_it_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(SQLITE_VERSION_1)
    before = _sqlite_catalog(path)
    store = SqliteStore(path)
    with pytest.raises(
        ConfigurationError, match=f"schema version 1, not this service's {SCHEMA_VERSION}"
    ):
        await store.open(migrate=False)
    await store.close()
    assert _sqlite_catalog(path) == before


async def test_a_sqlite_reader_reads_a_file_of_this_version(tmp_path: Path) -> None:
    path = tmp_path / "current.db"
    writer = SqliteStore(path)
    await writer.open()
    await writer.close()
    reader = SqliteStore(path)
    await reader.open(migrate=False)
    try:
        assert await reader.count_by_state() == {}
    finally:
        await reader.close()


@pytest.mark.postgres
async def test_a_postgresql_reader_refuses_a_database_not_migrated_and_changes_nothing(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    with pytest.raises(ConfigurationError, match="has no schema"):
        await store.open(migrate=False)
    db = await asyncpg.connect(postgres_url)
    try:
        tables = await db.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        await db.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY)")
        await db.execute("INSERT INTO schema_migrations VALUES (1)")
    finally:
        await db.close()
    assert tables == 0
    with pytest.raises(ConfigurationError, match="schema version 1, not this service's"):
        await PostgresStore(postgres_url).open(migrate=False)


@pytest.mark.postgres
async def test_a_postgresql_reader_reads_a_database_of_this_version(postgres_url: str) -> None:
    writer = PostgresStore(postgres_url)
    await writer.open()
    await writer.write(BatchWrite())
    await writer.close()
    reader = PostgresStore(postgres_url)
    await reader.open(migrate=False)
    try:
        assert await reader.count_by_state() == {}
        assert await reader.outbox_backlog() == 0
    finally:
        await reader.close()
