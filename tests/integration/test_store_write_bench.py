"""The store write benchmark replays what the service decides into a real store, and
accounts for every command and every outbox row."""

from pathlib import Path

import pytest

from bench.store_write import decided_writes, land
from bench.workload import command_stream
from service.store import BatchWrite, PostgresStore, SqliteStore, Store

Decided = tuple[int, list[BatchWrite]]


@pytest.fixture(scope="module")
def writes() -> Decided:
    return decided_writes(referrals=60, batch_size=100)


def test_the_decided_writes_hold_every_command_of_the_mix(writes: Decided) -> None:
    commands, batches = writes
    assert len(batches) == -(-commands // 100)
    stream = command_stream(20261201, 60, "write")
    duplicates = sum(1 for record in stream if record.outcome == "duplicate")
    assert commands == len(stream)
    assert sum(len(batch.processed) for batch in batches) == commands - duplicates
    assert all(batch.outbox for batch in batches)


async def _landed(store: Store, writes: Decided) -> None:
    commands, batches = writes
    await store.open()
    try:
        cost = await land(store, batches, commands, "store")
        assert cost.commands == commands
        assert cost.write_cpu_us > 0
        assert cost.write_wall_us > 0
        assert await store.outbox_backlog() == 0
        last = batches[-1].referrals[-1].record
        stored = await store.get(last.referral_id, last.tenant_id)
        assert stored is not None
        assert stored.version == last.version
    finally:
        await store.close()


async def test_the_benchmark_lands_every_batch_in_sqlite(tmp_path: Path, writes: Decided) -> None:
    await _landed(SqliteStore(tmp_path / "bench.db"), writes)


@pytest.mark.postgres
async def test_the_benchmark_lands_every_batch_in_postgresql(
    postgres_url: str, writes: Decided
) -> None:
    await _landed(PostgresStore(postgres_url), writes)
