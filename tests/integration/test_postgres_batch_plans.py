"""A batch's load and write on PostgreSQL are planned at each call, so their plan follows the
store's size. After five calls the server kept one plan for the load (a generic plan), made
for the nearly empty tables of a new database, which went on scanning them whole once a
backlog had filled them (a one-key load: 5.3 ms at 20,000 rows, against 0.5), until
autovacuum analysed them."""

from collections.abc import AsyncIterator

import pytest

from bench.store_write import decided_writes
from service.store import PostgresStore
from service.store.query import ReferralQuery
from state import CommandKey

pytestmark = pytest.mark.postgres

_PLANS = (
    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    " WHERE statement NOT LIKE '%pg_prepared_statements%'"
)


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(postgres_url, pool_size=1)  # every statement on one session
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def _plans(store: PostgresStore, start: str) -> tuple[int, int]:
    """Generic and custom plans so far of the statements beginning with ``start``."""
    async with store._pool.connection() as db:
        rows = await db.fetch(_PLANS)
    chosen = [row for row in rows if row["statement"].startswith(start)]
    assert chosen, f"no statement beginning with {start!r} ran"
    return sum(r["generic_plans"] for r in chosen), sum(r["custom_plans"] for r in chosen)


async def test_a_batch_s_load_and_write_are_planned_for_the_store_as_it_is_at_each_call(
    store: PostgresStore,
) -> None:
    _, writes = decided_writes(referrals=30, batch_size=7)
    assert len(writes) >= 8  # more than the five custom plans the server tries first
    assert len({len(write.referrals) for write in writes}) >= 2
    for write in writes:
        keys = [w.record.key for w in write.referrals]
        commands = [CommandKey(p.tenant_id, p.command_id) for p in write.processed]
        loaded, _ = await store.load_batch(keys, commands, {})
        assert set(loaded) <= set(keys)
        await store.write(write)

    assert await _plans(store, "WITH new AS") == (0, len(writes))
    assert await _plans(store, "SELECT false AS command") == (0, len(writes))


async def test_a_page_of_every_tenant_without_a_filter_is_planned_at_each_call(
    store: PostgresStore,
) -> None:
    _, writes = decided_writes(referrals=10, batch_size=50)
    for write in writes:
        await store.write(write)
    for _ in range(7):
        page = await store.query(ReferralQuery(None, limit=5))
        assert len(page.documents) == 5

    assert await _plans(store, "SELECT document") == (0, 7)
