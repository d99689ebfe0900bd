"""The PostgreSQL store's webhook tables (``service.store.webhooks``). Replicas claim due
deliveries with ``FOR UPDATE SKIP LOCKED`` and a lease, so several share the work and none
sends a delivery another holds. A batch's deliveries are part of its write
(``postgres_writes``); ``enqueue_notices`` records others (the test event)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

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

if TYPE_CHECKING:
    from asyncpg import Record

    from service.store.postgres_pool import PostgresPool

#: Deliveries handed out per claim, whichever their tenants.
CLAIM_LIMIT: Final = 200
_REGISTRATION_COLUMNS: Final = "tenant_id, url, events, secret, state, created_at, updated_at"
_CLAIM: Final = """
WITH due AS (
    SELECT seq FROM (SELECT seq, row_number() OVER (PARTITION BY tenant_id ORDER BY seq) AS n
        FROM webhook_deliveries w WHERE state = 'pending' AND next_attempt <= $1
        AND NOT (tenant_id = ANY($2::text[]))
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.tenant_id = w.tenant_id
            AND e.referral_id = w.referral_id AND e.seq < w.seq AND e.state = 'pending'
            AND e.next_attempt > $1)) AS d
    WHERE n <= $3 ORDER BY seq LIMIT $4),
locked AS (
    SELECT w.seq FROM webhook_deliveries w JOIN due USING (seq)
    WHERE w.state = 'pending' AND w.next_attempt <= $1 FOR UPDATE OF w SKIP LOCKED)
UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
    next_attempt = $1 + make_interval(secs => $5)
FROM locked, webhook_registrations r WHERE d.seq = locked.seq AND r.tenant_id = d.tenant_id
RETURNING d.seq, d.id, d.tenant_id, d.referral_id, d.event, d.changed_at, d.attempts,
    d.retry_from, r.url, r.secret
"""
_ENQUEUE: Final = """
INSERT INTO webhook_deliveries (tenant_id, referral_id, event, changed_at, state)
SELECT n.tenant_id, n.referral_id, n.event, n.changed_at,
    CASE r.state WHEN 'failing' THEN 'parked' ELSE 'pending' END
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY
    AS n(tenant_id, referral_id, event, changed_at, k)
JOIN webhook_registrations r ON r.tenant_id = n.tenant_id
    AND (n.event = ANY(r.events) OR n.event = $5)
ORDER BY n.k
"""


def _registration(row: Record) -> Registration:
    return Registration(
        row["tenant_id"], row["url"], tuple(row["events"]), row["secret"], row["state"],
        row["created_at"], row["updated_at"],
    )  # fmt: skip


class PostgresWebhooks:
    def __init__(self, pool: PostgresPool) -> None:
        self._webhooks_pool = pool

    async def _fetch(self, sql: str, *args: object) -> list[Record]:
        return await self._webhooks_pool.fetch(sql, *args)

    async def save_registration(self, registration: Registration) -> None:
        await self._fetch(
            "INSERT INTO webhook_registrations (tenant_id, url, events, secret, state)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET"
            " url = excluded.url, events = excluded.events, secret = excluded.secret,"
            " state = excluded.state, updated_at = now()",
            registration.tenant, registration.url, list(registration.events),
            registration.secret, ACTIVE,
        )  # fmt: skip

    async def registration(self, tenant: str) -> Registration | None:
        rows = await self._fetch(
            f"SELECT {_REGISTRATION_COLUMNS} FROM webhook_registrations WHERE tenant_id = $1",
            tenant,
        )
        return _registration(rows[0]) if rows else None

    async def registrations(self) -> list[Registration]:
        rows = await self._fetch(
            f"SELECT {_REGISTRATION_COLUMNS} FROM webhook_registrations ORDER BY tenant_id"
        )
        return [_registration(row) for row in rows]

    async def delete_registration(self, tenant: str) -> bool:
        rows = await self._fetch(
            "WITH undelivered AS (DELETE FROM webhook_deliveries WHERE tenant_id = $1"
            " AND state <> $2), gone AS (DELETE FROM webhook_registrations WHERE tenant_id = $1"
            " RETURNING 1) SELECT count(*) AS n FROM gone",
            tenant,
            DELIVERED,
        )
        return bool(rows[0]["n"])

    async def enqueue_notices(self, notices: Sequence[Notice]) -> int:
        async with self._webhooks_pool.connection() as db:
            status = await db.execute(
                _ENQUEUE,
                [n.tenant for n in notices],
                [n.referral_id for n in notices],
                [n.event for n in notices],
                [n.changed_at for n in notices],
                TEST,
            )
        return int(status.rpartition(" ")[2])

    async def claim_deliveries(
        self, now: datetime, lease_seconds: float, per_tenant: int, busy: Collection[str]
    ) -> list[Delivery]:
        rows = await self._fetch(
            _CLAIM, now, sorted(busy), per_tenant, CLAIM_LIMIT, float(lease_seconds)
        )
        return [
            Delivery(
                row["id"],
                row["tenant_id"],
                row["referral_id"],
                row["event"],
                row["changed_at"],
                row["attempts"],
                row["retry_from"],
                row["url"],
                row["secret"],
            )
            for row in sorted(rows, key=lambda row: int(row["seq"]))
        ]

    async def delivered(self, delivery_id: str, now: datetime) -> None:
        await self._fetch(
            "UPDATE webhook_deliveries SET state = $1, delivered_at = $2, last_error = NULL"
            " WHERE id = $3",
            DELIVERED,
            now,
            delivery_id,
        )

    async def retry_later(self, delivery_id: str, at: datetime, error: str) -> None:
        await self._fetch(
            "UPDATE webhook_deliveries SET next_attempt = $1, last_error = $2"
            " WHERE id = $3 AND state = $4",
            at,
            error,
            delivery_id,
            PENDING,
        )

    async def park(self, tenant: str, error: str) -> None:
        await self._fetch(
            "WITH registration AS (UPDATE webhook_registrations SET state = $1,"
            " updated_at = now() WHERE tenant_id = $2)"
            " UPDATE webhook_deliveries SET state = $3, last_error = coalesce(last_error, $4)"
            " WHERE tenant_id = $2 AND state = $5",
            FAILING,
            tenant,
            PARKED,
            error,
            PENDING,
        )

    async def replay(self, tenant: str, now: datetime) -> int:
        rows = await self._fetch(
            "WITH registration AS (UPDATE webhook_registrations SET state = $1,"
            " updated_at = now() WHERE tenant_id = $2), replayed AS ("
            " UPDATE webhook_deliveries SET state = $3, next_attempt = $4, retry_from = $4,"
            " attempts = 0 WHERE tenant_id = $2 AND state = $5 RETURNING 1)"
            " SELECT count(*) AS n FROM replayed",
            ACTIVE,
            tenant,
            PENDING,
            now,
            PARKED,
        )
        return int(rows[0]["n"])

    async def deliveries(self, tenant: str, limit: int) -> list[DeliveryRow]:
        rows = await self._fetch(
            "SELECT id, referral_id, event, state, attempts, next_attempt, last_error"
            " FROM webhook_deliveries WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2",
            tenant,
            limit,
        )
        return [
            DeliveryRow(
                row["id"],
                row["referral_id"],
                row["event"],
                row["state"],
                row["attempts"],
                row["next_attempt"],
                row["last_error"],
            )
            for row in rows
        ]

    async def webhook_counts(self) -> WebhookCounts:
        rows = await self._fetch(
            "SELECT (SELECT count(*) FROM webhook_deliveries WHERE state = $1) AS pending,"
            " (SELECT count(*) FROM webhook_deliveries WHERE state = $2) AS parked,"
            " (SELECT count(*) FROM webhook_registrations WHERE state = $3) AS failing",
            PENDING,
            PARKED,
            FAILING,
        )
        row = rows[0]
        return WebhookCounts(int(row["pending"]), int(row["parked"]), int(row["failing"]))

    async def forget_delivered(self, before: datetime) -> int:
        rows = await self._fetch(
            "WITH gone AS (DELETE FROM webhook_deliveries WHERE state = $1"
            " AND delivered_at < $2 RETURNING 1) SELECT count(*) AS n FROM gone",
            DELIVERED,
            before,
        )
        return int(rows[0]["n"])
