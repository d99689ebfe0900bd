"""The consume loop's batch statements on PostgreSQL are planned once per session (a generic
plan: their best plan is the same for any batch), on connections of their own; the read
API's queries, whose plans depend on their values, are still planned for each call."""

from collections.abc import AsyncIterator

import pytest

from bench.store_write import decided_writes
from service.store import PostgresStore
from service.store.postgres_pool import PostgresPool
from service.store.query import ReferralQuery
from state import CommandKey

pytestmark = pytest.mark.postgres

_PLANS = (
    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    " WHERE statement NOT LIKE '%pg_prepared_statements%'"
)


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def _plans(pool: PostgresPool, start: str) -> tuple[int, int]:
    """Generic and custom plans so far of the statements beginning with ``start``, on the
    connection the pool hands out next (its sessions are LIFO: the one last used)."""
    async with pool.connection() as db:
        rows = await db.fetch(_PLANS)
    chosen = [row for row in rows if row["statement"].startswith(start)]
    assert chosen, f"no statement beginning with {start!r} ran on this connection"
    return sum(r["generic_plans"] for r in chosen), sum(r["custom_plans"] for r in chosen)


async def test_a_batch_s_load_and_write_are_planned_once_whatever_their_size(
    store: PostgresStore,
) -> None:
    commands, writes = decided_writes(referrals=30, batch_size=7)
    sizes = {len(write.referrals) for write in writes}
    assert len(writes) >= 8  # more than the five custom plans the server tries first
    assert len(sizes) >= 2
    for write in writes:
        keys = [w.record.key for w in write.referrals]
        commands_of = [CommandKey(p.tenant_id, p.command_id) for p in write.processed]
        loaded, _ = await store.load_batch(keys, commands_of, {})
        assert set(loaded) <= set(keys)
        await store.write(write)

    written_generic, written_custom = await _plans(store._batches, "WITH new AS")
    loaded_generic, loaded_custom = await _plans(store._batches, "SELECT false AS command")

    assert (written_generic, written_custom) == (len(writes), 0)
    assert (loaded_generic, loaded_custom) == (len(writes), 0)
    stored = await store.query(ReferralQuery(None, limit=1000))
    assert len(stored.documents) == len({w.record.key for b in writes for w in b.referrals})
    assert commands > len(writes)


async def test_the_read_api_s_queries_keep_plans_made_for_their_values(
    store: PostgresStore,
) -> None:
    _, writes = decided_writes(referrals=10, batch_size=50)
    for write in writes:
        await store.write(write)
    for _ in range(3):  # one tenant's: a query with a parameter (one without has one plan)
        await store.query(ReferralQuery("a-tenant", limit=5))

    generic, custom = await _plans(store._pool, "SELECT document")

    assert (generic, custom) == (0, 3)
