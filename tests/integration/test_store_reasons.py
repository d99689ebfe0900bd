"""A rejected command's reason is kept beside its processed record, on every store: read
back as written, gone with its record at the retention clean-up, absent (None) from the
records of a store migrated from the version before reasons were kept."""

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from service.payloads import rejection_reason
from service.store import BatchWrite, PostgresStore, ProcessedCommand, SqliteStore, Store
from service.store.migrations import MIGRATIONS, migrate
from service.store.sqlite_schema import _PROCESSED_V2, SCHEMA_VERSION
from state import CommandKey, FieldProblem, Rejected, RejectionCode

REASON = rejection_reason(
    Rejected(
        RejectionCode.PRECONDITION_FAILED,
        "referral r1 is at version 3, not 2",
        (FieldProblem("ETag", "stale", "the eTag read is not the referral's now"),),
    )
)


async def test_a_rejections_reason_is_read_back_with_its_record_and_forgotten_with_it(
    store: Store,
) -> None:
    rejected = ProcessedCommand("c1", "r1", "rejected", "org-a", REASON)
    applied = ProcessedCommand("c2", "r1", "applied", "org-a")
    await store.write(BatchWrite(processed=[rejected, applied]))

    assert await store.processed(CommandKey("org-a", "c1")) == rejected
    assert await store.processed(CommandKey("org-a", "c2")) == applied
    assert await store.processed(CommandKey("org-b", "c1")) is None
    assert await store.forget_processed(datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert await store.processed(CommandKey("org-a", "c1")) is None


async def _records_after_upgrade(store: Store) -> list[ProcessedCommand | None]:
    """The record written before the upgrade, and one rejected after it."""
    await store.open()
    try:
        later = ProcessedCommand("after", "r1", "rejected", None, REASON)
        await store.write(BatchWrite(processed=[later]))
        return [await store.processed(CommandKey(None, key)) for key in ("before", "after")]
    finally:
        await store.close()


async def test_a_sqlite_file_of_schema_6_keeps_its_records_and_then_their_reasons(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v6.db"
    fresh = SqliteStore(path)
    await fresh.open()
    await fresh.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # the table as schema 6 had it
        db.execute("DROP TABLE processed_commands")
        db.execute(_PROCESSED_V2.format(table="processed_commands"))
        db.execute("UPDATE schema_version SET version = 6")
        db.execute("INSERT INTO processed_commands VALUES ('', 'before', 'r1', 'rejected', 0)")

    records = await _records_after_upgrade(SqliteStore(path))

    assert records == [
        ProcessedCommand("before", "r1", "rejected"),
        ProcessedCommand("after", "r1", "rejected", None, REASON),
    ]
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


@pytest.mark.postgres
async def test_a_postgresql_database_before_reasons_keeps_its_records_and_then_their_reasons(
    postgres_url: str,
) -> None:
    db = await asyncpg.connect(postgres_url)
    try:
        await db.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
        for version, statements in enumerate(MIGRATIONS[:8], start=1):  # before reasons (9)
            for statement in statements:
                await db.execute(statement)
            await db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        await db.execute(
            "INSERT INTO processed_commands (tenant_id, command_id, referral_id, outcome)"
            " VALUES ('', 'before', 'r1', 'rejected')"
        )
        assert await migrate(db) == len(MIGRATIONS)
    finally:
        await db.close()

    records = await _records_after_upgrade(PostgresStore(postgres_url))

    assert records == [
        ProcessedCommand("before", "r1", "rejected"),
        ProcessedCommand("after", "r1", "rejected", None, REASON),
    ]
