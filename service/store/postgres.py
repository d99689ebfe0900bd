"""The PostgreSQL store: many replicas share one database. The storage port over its
pool (``postgres_pool``), its batch statement (``postgres_writes``) and its outbox
(``postgres_outbox``).

A batch is one transaction of set-based statements (one round trip per table, whatever the
batch size); referral updates are guarded by the version they were loaded at, so a replica
that lost its partition cannot overwrite the new owner's work. The schema is migrated at
start under an advisory lock, so replicas starting together migrate once; a store opened
without migrating (a reader) requires the schema this version needs.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from service.fast.referral import AnyRecord
from service.store import migrations
from service.store.base import (
    COUNT_BY_STATE,
    FORGET_PAGE,
    BatchWrite,
    ExpiryCandidate,
    ExpiryPosition,
    OutboxEntry,
    ProcessedCommand,
    Publish,
    in_pages,
)
from service.store.postgres_outbox import PostgresOutbox
from service.store.postgres_pool import PostgresBounds, PostgresPool
from service.store.postgres_writes import key_columns, write_batch
from service.store.postgres_writes import prepare as prepare_write
from service.store.query import Dialect, Page, ReferralQuery, condition, ordering
from service.store.rows import (
    consumed_from_row,
    expiry_candidate,
    position_of,
    referral_from_row,
    tenant_column,
    tenant_of,
)
from service.store.webhooks_postgres import PostgresWebhooks
from state import CommandKey, ReferralKey, ReferralRecord

#: The rows found oldest first through the index by age, up to the cutoff, then deleted by
#: their row ids: as ``ctid IN (…)`` unordered, a table whose statistics lag its growth was
#: read whole every expiry interval (52,538 rows, none due: 25 ms, against 0.2).
FORGET_PROCESSED = (
    "WITH gone AS (DELETE FROM processed_commands WHERE ctid = ANY(ARRAY(SELECT ctid"
    " FROM processed_commands WHERE processed_at < $1 ORDER BY processed_at LIMIT $2))"
    " RETURNING 1) SELECT count(*) AS n FROM gone"
)


class PostgresStore(PostgresWebhooks):
    #: A batch's write is the server's work: the loop decides the next batch meanwhile.
    writes_beside_decisions = True

    def __init__(self, url: str, pool_size: int = 5, bounds: PostgresBounds | None = None) -> None:
        self.url = url
        self.pool_size = pool_size
        self._pool = PostgresPool(url, pool_size, bounds or PostgresBounds())
        self._outbox = PostgresOutbox(self._pool)
        super().__init__(self._pool)

    async def open(self, migrate: bool = True) -> None:
        try:
            await self._pool.open()
            async with self._pool.connection() as db:
                if migrate:
                    await migrations.migrate(db, self._pool.bounds.migration)
                else:
                    await migrations.require_current(db)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await self._pool.close()

    async def load(self, keys: Collection[ReferralKey]) -> dict[ReferralKey, ReferralRecord]:
        rows = await self._pool.fetch(
            "SELECT r.document, r.tenant_id FROM referrals r"
            " JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, id) USING (tenant_id, id)",
            *key_columns(keys),
        )
        records = (referral_from_row(row["document"], row["tenant_id"]) for row in rows)
        return {record.key: record for record in records}

    async def seen(self, keys: Collection[CommandKey]) -> set[CommandKey]:
        rows = await self._pool.fetch(
            "SELECT p.tenant_id, p.command_id FROM processed_commands p JOIN"
            " unnest($1::text[], $2::text[]) AS k(tenant_id, command_id)"
            " USING (tenant_id, command_id)",
            *key_columns(keys),
        )
        return {CommandKey(tenant_of(row["tenant_id"]), row["command_id"]) for row in rows}

    async def processed(self, key: CommandKey) -> ProcessedCommand | None:
        rows = await self._pool.fetch(
            "SELECT referral_id, outcome, rejection FROM processed_commands"
            " WHERE tenant_id = $1 AND command_id = $2",
            tenant_column(key.tenant_id),
            key.command_id,
        )
        if not rows:
            return None
        row = rows[0]
        return ProcessedCommand(
            key.command_id, row["referral_id"], row["outcome"], key.tenant_id, row["rejection"]
        )

    async def load_batch(
        self,
        referrals: Collection[ReferralKey],
        commands: Collection[CommandKey],
        cached: Mapping[ReferralKey, AnyRecord],
    ) -> tuple[dict[ReferralKey, AnyRecord], set[CommandKey]]:
        keys = list(referrals)
        known = [cached[key].version if key in cached else 0 for key in keys]
        rows = await self._pool.fetch(
            "SELECT false AS command, r.tenant_id, r.id,"
            " CASE WHEN r.version = k.version THEN NULL ELSE r.document END AS document"
            " FROM referrals r JOIN unnest($1::text[], $2::text[], $3::bigint[])"
            " AS k(tenant_id, id, version) USING (tenant_id, id)"
            " UNION ALL SELECT true, p.tenant_id, p.command_id, NULL FROM processed_commands p"
            " JOIN unnest($4::text[], $5::text[]) AS c(tenant_id, command_id)"
            " USING (tenant_id, command_id)",
            *key_columns(keys),
            known,
            *key_columns(commands),
        )
        loaded: dict[ReferralKey, AnyRecord] = {}
        seen: set[CommandKey] = set()
        for row in rows:
            tenant = tenant_of(row["tenant_id"])
            if row["command"]:
                seen.add(CommandKey(tenant, row["id"]))
            elif row["document"] is None:
                key = ReferralKey(tenant, row["id"])
                loaded[key] = cached[key]
            else:
                record = consumed_from_row(row["document"], row["tenant_id"])
                loaded[record.key] = record
        return loaded, seen

    def prepare(self, batch: BatchWrite) -> None:
        batch.prepared = prepare_write(batch)

    async def write(self, batch: BatchWrite) -> list[OutboxEntry]:
        async with self._pool.connection() as db:
            return await write_batch(db, batch)

    async def pending(self, partitions: Collection[int] | None = None) -> list[OutboxEntry]:
        return await self._outbox.pending(partitions)

    async def mark_published(self, seqs: Collection[int]) -> None:
        await self._outbox.mark_published(seqs)

    async def publish_in_order(
        self, entries: Sequence[OutboxEntry] | None, publish: Publish
    ) -> None:
        await self._outbox.publish_in_order(entries, publish)

    async def get(self, referral_id: str, tenant_id: str | None = None) -> ReferralRecord | None:
        key = ReferralKey(tenant_id, referral_id)
        return (await self.load([key])).get(key)

    async def query(self, query: ReferralQuery, *, count: bool = False) -> Page:
        dialect = _dialect()
        where, order = condition(query, dialect), ordering(query, dialect)
        # The limit as a parameter: a statement without one has a single plan, which a new
        # database's empty table would make a scan and sort (``PostgresPool`` says why).
        params = [*dialect.params, int(query.limit)]
        rows = await self._pool.fetch(
            f"SELECT document, {query.order.name} AS position, tenant_id, id FROM referrals"
            f" WHERE {where} ORDER BY {order} LIMIT ${len(params)}",
            *params,
        )
        total = None
        if count:
            counting = _dialect()
            where = condition(query, counting, paged=False)
            counted = await self._pool.fetch(f"SELECT count(*) AS n FROM referrals WHERE {where}",
                                        *counting.params)  # fmt: skip
            total = int(counted[0]["n"])
        return Page(
            [bytes(row["document"]) for row in rows],
            [position_of(row["position"], row["tenant_id"], row["id"]) for row in rows],
            total,
        )

    async def count_by_state(self) -> dict[tuple[str, str], int]:
        """Counted by this connection's server process alone: a gauge's count of a large
        store would otherwise take parallel workers, every core of a small server, from
        the writes (1,000,000 stored: ~180 ms of one process, against ~120 ms on three)."""
        async with self._pool.connection() as db, db.transaction():
            await db.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            rows = await db.fetch(COUNT_BY_STATE)
        return {(status, substatus): n for status, substatus, n in rows}

    async def outbox_backlog(self) -> int:
        rows = await self._pool.fetch("SELECT count(*) AS n FROM outbox")
        return int(rows[0]["n"])

    async def due_for_expiry(
        self, now: datetime, limit: int, after: ExpiryPosition | None = None
    ) -> list[ExpiryCandidate]:
        start = (None, "", "") if after is None else (
            after.expiration, tenant_column(after.tenant_id), after.referral_id
        )  # fmt: skip
        rows = await self._pool.fetch(
            "SELECT document, tenant_id, expiration FROM referrals WHERE status = 'New'"
            " AND expiration <= $1 AND ($3::timestamptz IS NULL"
            " OR (expiration, tenant_id, id) > ($3::timestamptz, $4::text, $5::text))"
            " ORDER BY expiration, tenant_id, id LIMIT $2",
            now,
            limit,
            *start,
        )
        return [
            expiry_candidate(row["document"], row["tenant_id"], row["expiration"]) for row in rows
        ]

    async def secret(self, name: str) -> bytes:
        rows = await self._pool.fetch(
            "WITH made AS (INSERT INTO service_secrets (name, value) VALUES ($1, $2)"
            " ON CONFLICT (name) DO NOTHING RETURNING value)"
            " SELECT value FROM made UNION ALL SELECT value FROM service_secrets WHERE name = $1",
            name,
            secrets.token_bytes(32),
        )
        if not rows:  # another replica made it at the same moment: read what it made
            rows = await self._pool.fetch("SELECT value FROM service_secrets WHERE name = $1", name)
        return bytes(rows[0]["value"])

    async def forget_processed(self, before: datetime, page: int = FORGET_PAGE) -> int:
        async def delete() -> int:
            rows = await self._pool.fetch(FORGET_PROCESSED, before, page)
            return int(rows[0]["n"])

        return await in_pages(page, delete)


def _dialect() -> Dialect:
    return Dialect(
        placeholder=lambda n: f"${n}",
        time_value=lambda value: value,
        team_member=lambda mark: f"team_emails @> ARRAY[{mark}::text]",
    )
