"""The SQLite store's webhook tables (``service.store.webhooks``): statements on the
store's writing connection, each call one transaction. ``enqueue`` also runs inside a
batch's transaction (``sqlite_writes``), after a check that any registration exists, so a
store without registrations pays one indexed lookup per batch."""

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from service.store.sqlite_connection import SqliteConnections, transaction
from service.store.webhooks import (
    ACTIVE,
    DELIVERED,
    FAILING,
    PARKED,
    PENDING,
    Delivery,
    DeliveryRow,
    Registration,
    WebhookCounts,
)
from service.webhooks.notices import TEST, Notice

#: Whether a batch's events need looking at: one lookup in an index, whatever the batch.
ANY_REGISTRATION: Final = "SELECT EXISTS (SELECT 1 FROM webhook_registrations)"
_INSERT: Final = (
    "INSERT INTO webhook_deliveries (id, tenant_id, referral_id, event, changed_at, state,"
    " next_attempt, retry_from) VALUES (lower(hex(randomblob(16))), ?, ?, ?, ?, ?, ?, ?)"
)
_CLAIM: Final = """
SELECT d.id, d.tenant_id, d.referral_id, d.event, d.changed_at, d.attempts, d.retry_from,
    r.url, r.secret
FROM (SELECT *, row_number() OVER (PARTITION BY tenant_id ORDER BY seq) AS n
      FROM webhook_deliveries w WHERE state = 'pending' AND next_attempt <= :now
      AND tenant_id NOT IN (SELECT value FROM json_each(:busy))
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.tenant_id = w.tenant_id
          AND e.referral_id = w.referral_id AND e.seq < w.seq AND e.state = 'pending'
          AND e.next_attempt > :now)) AS d
JOIN webhook_registrations r ON r.tenant_id = d.tenant_id
WHERE d.n <= :per_tenant ORDER BY d.seq LIMIT :limit
"""
_SET_STATE: Final = "UPDATE webhook_registrations SET state = ?, updated_at = ? WHERE tenant_id = ?"
#: Deliveries handed out per claim, whichever their tenants.
CLAIM_LIMIT: Final = 200


def enqueue(db: sqlite3.Connection, notices: Sequence[Notice], now: float) -> int:
    """Record ``notices`` for the registrations of their tenants that ask for them (parked
    at once where the registration is failing); in the caller's transaction."""
    tenants = sorted({notice.tenant for notice in notices})
    if not tenants:
        return 0
    found = db.execute(
        "SELECT tenant_id, events, state FROM webhook_registrations WHERE tenant_id IN"
        f" ({','.join('?' * len(tenants))})",
        tenants,
    )
    wanted = {tenant: (set(json.loads(events)), state) for tenant, events, state in found}
    rows = []
    for notice in notices:
        events, state = wanted.get(notice.tenant, (set(), ""))
        if notice.event in events or (state and notice.event == TEST):
            kept = PARKED if state == FAILING else PENDING
            rows.append((notice.tenant, notice.referral_id, notice.event, notice.changed_at,
                         kept, now, now))  # fmt: skip
    db.executemany(_INSERT, rows)
    return len(rows)


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _registration(row: tuple[object, ...]) -> Registration:
    tenant, url, events, secret, state, created, updated = row
    return Registration(
        str(tenant), str(url), tuple(json.loads(str(events))), str(secret), str(state),
        _moment(float(str(created))), _moment(float(str(updated))),
    )  # fmt: skip


_REGISTRATION_COLUMNS: Final = "tenant_id, url, events, secret, state, created_at, updated_at"


class SqliteWebhooks:
    def __init__(self, connections: SqliteConnections) -> None:
        self._db = connections

    async def save_registration(self, registration: Registration) -> None:
        now = datetime.now(UTC).timestamp()
        values = (registration.tenant, registration.url, json.dumps(registration.events),
                  registration.secret, ACTIVE, now, now)  # fmt: skip
        await self._db.run(
            lambda db: _in_transaction(
                db,
                f"INSERT INTO webhook_registrations ({_REGISTRATION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id) DO UPDATE SET"
                " url = excluded.url, events = excluded.events, secret = excluded.secret,"
                " state = excluded.state, updated_at = excluded.updated_at",
                [values],
            )
        )

    async def registration(self, tenant: str) -> Registration | None:
        rows = await self._db.run(
            lambda db: db.execute(
                f"SELECT {_REGISTRATION_COLUMNS} FROM webhook_registrations WHERE tenant_id = ?",
                (tenant,),
            ).fetchall()
        )
        return _registration(rows[0]) if rows else None

    async def registrations(self) -> list[Registration]:
        rows = await self._db.run(
            lambda db: db.execute(
                f"SELECT {_REGISTRATION_COLUMNS} FROM webhook_registrations ORDER BY tenant_id"
            ).fetchall()
        )
        return [_registration(row) for row in rows]

    async def delete_registration(self, tenant: str) -> bool:
        def delete(db: sqlite3.Connection) -> bool:
            with transaction(db):
                db.execute(
                    "DELETE FROM webhook_deliveries WHERE tenant_id = ? AND state <> ?",
                    (tenant, DELIVERED),
                )
                gone = db.execute("DELETE FROM webhook_registrations WHERE tenant_id = ?",
                                  (tenant,)).rowcount  # fmt: skip
            return bool(gone)

        return await self._db.run(delete)

    async def enqueue_notices(self, notices: Sequence[Notice]) -> int:
        def record(db: sqlite3.Connection) -> int:
            with transaction(db):
                return enqueue(db, notices, datetime.now(UTC).timestamp())

        return await self._db.run(record)

    async def claim_deliveries(
        self, now: datetime, lease_seconds: float, per_tenant: int, busy: Collection[str]
    ) -> list[Delivery]:
        def claim(db: sqlite3.Connection) -> list[Delivery]:
            with transaction(db):
                given = {"now": now.timestamp(), "busy": json.dumps(sorted(busy)),
                         "per_tenant": per_tenant, "limit": CLAIM_LIMIT}  # fmt: skip
                rows = db.execute(_CLAIM, given).fetchall()
                hidden = now.timestamp() + lease_seconds
                db.executemany(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt = ?"
                    " WHERE id = ?",
                    [(hidden, row[0]) for row in rows],
                )
            return [
                Delivery(
                    id, tenant, referral, event, changed, attempts + 1, _moment(since), url, secret
                )
                for id, tenant, referral, event, changed, attempts, since, url, secret in rows
            ]

        return await self._db.run(claim)

    async def delivered(self, delivery_id: str, now: datetime) -> None:
        await self._db.run(
            lambda db: _in_transaction(
                db,
                "UPDATE webhook_deliveries SET state = ?, delivered_at = ?, last_error = NULL"
                " WHERE id = ?",
                [(DELIVERED, now.timestamp(), delivery_id)],
            )
        )

    async def retry_later(self, delivery_id: str, at: datetime, error: str) -> None:
        await self._db.run(
            lambda db: _in_transaction(
                db,
                "UPDATE webhook_deliveries SET next_attempt = ?, last_error = ?"
                " WHERE id = ? AND state = ?",
                [(at.timestamp(), error, delivery_id, PENDING)],
            )
        )

    async def park(self, tenant: str, error: str) -> None:
        def park(db: sqlite3.Connection) -> None:
            with transaction(db):
                db.execute(
                    _SET_STATE,
                    (FAILING, datetime.now(UTC).timestamp(), tenant),
                )
                db.execute(
                    "UPDATE webhook_deliveries SET state = ?, last_error = coalesce(last_error, ?)"
                    " WHERE tenant_id = ? AND state = ?",
                    (PARKED, error, tenant, PENDING),
                )

        await self._db.run(park)

    async def replay(self, tenant: str, now: datetime) -> int:
        def replay(db: sqlite3.Connection) -> int:
            with transaction(db):
                db.execute(
                    _SET_STATE,
                    (ACTIVE, now.timestamp(), tenant),
                )
                return int(
                    db.execute(
                        "UPDATE webhook_deliveries SET state = ?, next_attempt = ?,"
                        " retry_from = ?, attempts = 0 WHERE tenant_id = ? AND state = ?",
                        (PENDING, now.timestamp(), now.timestamp(), tenant, PARKED),
                    ).rowcount
                )

        return await self._db.run(replay)

    async def deliveries(self, tenant: str, limit: int) -> list[DeliveryRow]:
        rows = await self._db.run(
            lambda db: db.execute(
                "SELECT id, referral_id, event, state, attempts, next_attempt, last_error"
                " FROM webhook_deliveries WHERE tenant_id = ? ORDER BY seq DESC LIMIT ?",
                (tenant, limit),
            ).fetchall()
        )
        return [
            DeliveryRow(id, referral, event, state, attempts, _moment(due), error)
            for id, referral, event, state, attempts, due, error in rows
        ]

    async def webhook_counts(self) -> WebhookCounts:
        ((pending, parked, failing),) = await self._db.run(
            lambda db: db.execute(
                "SELECT (SELECT count(*) FROM webhook_deliveries WHERE state = ?),"
                " (SELECT count(*) FROM webhook_deliveries WHERE state = ?),"
                " (SELECT count(*) FROM webhook_registrations WHERE state = ?)",
                (PENDING, PARKED, FAILING),
            ).fetchall()
        )
        return WebhookCounts(pending, parked, failing)

    async def forget_delivered(self, before: datetime) -> int:
        def forget(db: sqlite3.Connection) -> int:
            with transaction(db):
                return int(
                    db.execute(
                        "DELETE FROM webhook_deliveries WHERE state = ? AND delivered_at < ?",
                        (DELIVERED, before.timestamp()),
                    ).rowcount
                )

        return await self._db.run(forget)


def _in_transaction(
    db: sqlite3.Connection, statement: str, rows: Iterable[tuple[object, ...]]
) -> None:
    with transaction(db):
        db.executemany(statement, rows)
