"""The webhook tables of each store: a batch's events become deliveries in its own write,
for the registering tenant only; claims hide what they hand out; a failing endpoint's
deliveries are parked and a replay makes them due again."""

from datetime import UTC, datetime, timedelta

from service.codec import OutgoingRecord
from service.store import BatchWrite, OutboxEntry, Store
from service.store.webhooks import PARKED, PENDING, Registration


def soon() -> datetime:
    """A moment past every delivery recorded so far."""
    return datetime.now(UTC) + timedelta(seconds=1)


def event(kind: str, referral: str, tenant: str) -> OutboxEntry:
    headers = (("ce_tenantid", tenant.encode()), ("ce_time", b"2026-12-06T10:00:00.0000000Z"))
    return OutboxEntry(0, OutgoingRecord("events", referral.encode(), b"{}", headers, kind))


async def test_a_batch_records_deliveries_for_the_registering_tenant_only(store: Store) -> None:
    await store.write(BatchWrite(outbox=[event("referral.created", "before", "org-a")]))
    await store.save_registration(
        Registration("org-a", "https://a.example/h", ("referral-created", "referral-updated"), "s")
    )
    await store.save_registration(
        Registration("org-b", "https://b.example/h", ("referral-updated",), "s")
    )
    await store.write(
        BatchWrite(
            outbox=[
                event("referral.created", "r1", "org-a"),
                event("referral.accepted", "r1", "org-a"),
                event("referral.command.rejected", "r1", "org-a"),
                event("referral.created", "r2", "org-b"),
                event("referral.created", "r3", "org-c"),
            ]
        )
    )
    now = soon()
    claimed = await store.claim_deliveries(now, 60, 10, set())
    assert [(d.tenant, d.referral_id, d.event) for d in claimed] == [
        ("org-a", "r1", "referral-created"),
        ("org-a", "r1", "referral-updated"),
    ]
    assert claimed[0].changed_at == "2026-12-06T10:00:00.0000000Z"
    assert claimed[0].url == "https://a.example/h"
    assert claimed[0].attempts == 1
    assert await store.claim_deliveries(now, 60, 10, set()) == []  # hidden for the lease
    assert await store.claim_deliveries(now + timedelta(seconds=61), 60, 10, {"org-a"}) == []
    again = await store.claim_deliveries(now + timedelta(seconds=61), 60, 10, set())
    assert [d.id for d in again] == [d.id for d in claimed]
    assert again[0].attempts == 2


async def test_a_failing_endpoint_is_parked_then_replayed(store: Store) -> None:
    await store.save_registration(
        Registration("org-a", "https://a.example/h", ("referral-created",), "s")
    )
    await store.write(
        BatchWrite(outbox=[event("referral.created", f"r{n}", "org-a") for n in range(3)])
    )
    now = soon()
    first, *_ = await store.claim_deliveries(now, 60, 1, set())
    await store.retry_later(first.id, now + timedelta(seconds=5), "HTTP 500")
    await store.park("org-a", "HTTP 500")
    counts = await store.webhook_counts()
    assert (counts.pending, counts.parked, counts.failing_endpoints) == (0, 3, 1)
    await store.write(BatchWrite(outbox=[event("referral.created", "r9", "org-a")]))
    assert {row.state for row in await store.deliveries("org-a", 10)} == {PARKED}
    assert await store.replay("org-a", now) == 4
    rows = await store.deliveries("org-a", 10)
    assert {row.state for row in rows} == {PENDING}
    claimed = await store.claim_deliveries(now, 60, 10, set())
    assert len(claimed) == 4
    await store.delivered(claimed[0].id, now)
    assert await store.forget_delivered(now + timedelta(seconds=1)) == 1
    assert await store.delete_registration("org-a")
    assert await store.deliveries("org-a", 10) == []


async def test_a_referrals_later_delivery_waits_for_its_earlier_ones_retry(store: Store) -> None:
    events = ("referral-created", "referral-updated")
    await store.save_registration(Registration("org-a", "https://a.example/h", events, "s"))
    await store.write(
        BatchWrite(
            outbox=[
                event("referral.created", "r1", "org-a"),
                event("referral.accepted", "r1", "org-a"),
                event("referral.created", "r2", "org-a"),
            ]
        )
    )
    now = soon()
    (first,) = await store.claim_deliveries(now, 60, 1, set())
    await store.retry_later(first.id, now + timedelta(seconds=30), "HTTP 500")
    waiting = await store.claim_deliveries(now + timedelta(seconds=1), 60, 10, set())
    assert [(d.referral_id, d.event) for d in waiting] == [("r2", "referral-created")]
    due = await store.claim_deliveries(now + timedelta(seconds=31), 60, 1, set())
    assert [(d.referral_id, d.event) for d in due] == [("r1", "referral-created")]
    in_flight = await store.claim_deliveries(now + timedelta(seconds=32), 60, 10, set())
    assert in_flight == []  # the update waits while the creation is in flight
    together = await store.claim_deliveries(now + timedelta(seconds=92), 60, 10, set())
    assert [d.event for d in together if d.referral_id == "r1"] == list(events)
