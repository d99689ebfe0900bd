"""The SQLite store writes generated batches whole or not at all, whatever their size.

Its write runs one statement per table (inserts, version-guarded updates, team rows,
outbox rows numbered from the last row id), over the rows packed where it writes beside the
decisions, else an ``executemany``; both ways are played. Batches here are of many sizes, mix
creates and updates over two tenants, and sometimes hold a stale update, a create of a
stored referral or a command already processed. A write either fails with StaleWrite and
leaves the file as it was, or stores exactly what the batch said, its outbox rows in order.
"""

import asyncio
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from service.codec import OutgoingRecord
from service.errors import StaleWrite
from service.store import (
    BatchWrite,
    OutboxEntry,
    ProcessedCommand,
    ReferralWrite,
    SqliteStore,
)
from state import Applied, Command, CommandKey, CommandType, ReferralKey, ReferralRecord, decide

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEYS = [ReferralKey("t1" if n % 3 else None, f"r{n}") for n in range(320)]


@dataclass(frozen=True)
class Plan:
    """One batch: which referrals it writes, and what, if anything, makes it stale."""

    chosen: list[int]
    outbox: int
    fault: str  # "", "stale-update", "existing-create", "processed-again"


def _plans() -> st.SearchStrategy[list[Plan]]:
    plan = st.builds(
        Plan,
        # Sizes drawn evenly, so that batches of more than one chunk (256) are common.
        chosen=st.integers(0, 300).flatmap(
            lambda size: st.permutations(range(len(KEYS))).map(lambda order: order[:size])
        ),
        outbox=st.integers(0, 300),
        fault=st.sampled_from(["", "", "", "stale-update", "existing-create", "processed-again"]),
    )
    return st.lists(plan, min_size=1, max_size=4)


def _created(key: ReferralKey) -> ReferralRecord:
    command = Command(type=CommandType.CREATE, command_id=f"create-{key.referral_id}",
                      referral_id=key.referral_id, tenant_id=key.tenant_id,
                      data={"name": key.referral_id,
                            "team": [{"email": f"{key.referral_id}@x.example"}]})  # fmt: skip
    decision = decide(None, command, NOW)
    assert isinstance(decision, Applied)
    return decision.record


def _renamed(record: ReferralRecord) -> ReferralRecord:
    rename = [{"op": "replace", "path": "/name", "value": f"v{record.version}"}]
    command = Command(type=CommandType.PATCH, command_id=f"patch-{record.version}",
                      referral_id=record.referral_id, tenant_id=record.tenant_id,
                      data=rename)  # fmt: skip
    decision = decide(record, command, NOW)
    assert isinstance(decision, Applied)
    return decision.record


async def _play(path: Path, plans: list[Plan], beside: bool) -> None:
    store = SqliteStore(path, writes_beside=beside)
    await store.open()
    try:
        stored: dict[ReferralKey, ReferralRecord] = {}
        processed: set[CommandKey] = set()
        pending: list[OutgoingRecord] = []
        for number, plan in enumerate(plans):
            writes = []
            for index in plan.chosen:
                key = KEYS[index]
                before = stored.get(key)
                record = _created(key) if before is None else _renamed(before)
                writes.append(ReferralWrite(record, before.version if before else 0))
            commands = [ProcessedCommand(f"c{number}-{n}", None, "applied") for n in range(3)]
            stale = _spoil(plan.fault, writes, stored, commands, processed)
            outbox = [OutgoingRecord("events", f"k{n % 5}".encode(), f"{number}-{n}".encode(),
                                     (("ce_id", f"{number}-{n}".encode()),), "referral.updated")
                      for n in range(plan.outbox)]  # fmt: skip
            batch = BatchWrite(
                writes, commands, [OutboxEntry(n % 4, r) for n, r in enumerate(outbox)]
            )
            try:
                written = await store.write(batch)
            except StaleWrite:
                assert stale, "a batch with nothing stale was refused"
                event("refused")
            else:
                event(
                    "written, updates in more than one chunk"
                    if sum(w.expected_version > 0 for w in writes) > 256
                    else "written"
                )
                assert not stale, f"a batch with a {plan.fault} was written"
                assert [e.record for e in written] == outbox
                assert [e.seq for e in written] == sorted({e.seq for e in written})
                by_seq = {e.seq: e.record for e in await store.pending()}
                assert [by_seq.get(e.seq) for e in written] == outbox, "a seq names another row"
                stored.update({w.record.key: w.record for w in writes})
                processed.update(CommandKey(None, c.command_id) for c in commands)
                pending += outbox
            loaded = await store.load(KEYS)
            assert {k: r.version for k, r in loaded.items()} == {
                k: r.version for k, r in stored.items()
            }
            assert (
                await store.seen(
                    {CommandKey(None, f"c{n}-{i}") for n in range(number + 1) for i in range(3)}
                )
                == processed
            )
            assert [e.record for e in await store.pending()] == pending
    finally:
        await store.close()


def _spoil(
    fault: str,
    writes: list[ReferralWrite],
    stored: dict[ReferralKey, ReferralRecord],
    commands: list[ProcessedCommand],
    processed: set[CommandKey],
) -> bool:
    """Make the batch stale as ``fault`` says, where it can be; whether it now is."""
    updates = [n for n, w in enumerate(writes) if w.expected_version > 1]
    if fault == "stale-update" and updates:
        n = updates[-1]  # the last chunk's, after earlier chunks were applied
        writes[n] = ReferralWrite(writes[n].record, writes[n].expected_version - 1)
        return True
    existing = [n for n, w in enumerate(writes) if w.expected_version > 0]
    if fault == "existing-create" and existing:
        n = existing[0]
        writes[n] = ReferralWrite(writes[n].record, 0)
        return True
    if fault == "processed-again" and processed:
        commands.append(ProcessedCommand(sorted(processed)[0].command_id, None, "applied"))
        return True
    return False


@given(plans=_plans())
@seed(20261201)
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
def test_a_generated_batch_is_stored_whole_or_refused_whole(plans: list[Plan]) -> None:
    for beside in (False, True):
        with tempfile.TemporaryDirectory() as directory:
            asyncio.run(_play(Path(directory) / "batches.db", plans, beside))
