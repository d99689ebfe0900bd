"""A SQLite file of schema 3 keeps its unpublished outbox rows through the upgrade to
packed headers: they are published after it byte for byte as they were stored, in order
with the rows the upgraded service stores beside them."""

import contextlib
import sqlite3
from pathlib import Path

from service.codec import OutgoingRecord
from service.store import BatchWrite, OutboxEntry, SqliteStore
from service.store.rows import headers_to_text
from service.store.sqlite_schema import SCHEMA_VERSION

OLD = OutgoingRecord(
    "events", b"r1", b'{"v":1}', (("ce_id", b"e-1"), ("bin", b"\x00\xff"), ("none", None)),
    "referral.created",
)  # fmt: skip
NEW = OutgoingRecord("events", b"r1", b'{"v":2}', (("ce_id", b"e-2"),), "referral.updated")


def _as_schema_3(path: Path) -> None:
    """Rewrite the file as schema 3 stored it: headers as JSON text, version 3."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE outbox SET headers = ?", (headers_to_text(OLD.headers),))
        db.execute("DELETE FROM schema_version WHERE version > 3")


def _header_types(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT typeof(headers) FROM outbox ORDER BY seq")]


async def test_rows_of_schema_3_are_published_as_stored_beside_packed_ones(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    store = SqliteStore(path)
    await store.open()
    await store.write(BatchWrite(outbox=[OutboxEntry(0, OLD)]))
    await store.close()
    _as_schema_3(path)

    store = SqliteStore(path)
    await store.open()
    published: list[OutboxEntry] = []

    async def publish(entries: list[OutboxEntry]) -> list[int]:
        published.extend(entries)
        return [entry.seq for entry in entries]

    try:
        stored = await store.write(BatchWrite(outbox=[OutboxEntry(0, NEW)]))
        assert _header_types(path) == ["text", "blob"]
        await store.publish_in_order(stored, publish)
    finally:
        await store.close()

    assert [entry.record for entry in published] == [OLD, NEW]
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
