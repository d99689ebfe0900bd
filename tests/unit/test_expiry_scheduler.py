"""The expiry scan: unguessable command ids that every replica computes alike, a scan
that pages past referrals whose expiry is never applied, and re-asking after a back-off."""

from datetime import UTC, datetime, timedelta
from typing import Any

from service.codec import OutgoingRecord, read_cloudevent
from service.expiry import ExpiryScheduler, expiry_command_id
from service.settings import Settings
from service.store import ExpiryCandidate, ExpiryPosition

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


class DueReferrals:
    """The store's side of the scan: due referrals in (expiration, tenant, id) order."""

    def __init__(self, count: int) -> None:
        self.due = [
            ExpiryCandidate(f"r{i:04d}", f'"e{i}"', "org-a" if i % 2 else None,
                            NOW - timedelta(days=1) + timedelta(seconds=i))
            for i in range(count)
        ]  # fmt: skip
        self.secrets: dict[str, bytes] = {}

    async def due_for_expiry(
        self, now: datetime, limit: int, after: ExpiryPosition | None = None
    ) -> list[ExpiryCandidate]:
        def order(c: ExpiryCandidate) -> tuple[Any, ...]:
            return (c.expiration, c.tenant_id or "", c.referral_id)

        start = (
            None if after is None else (after.expiration, after.tenant_id or "", after.referral_id)
        )
        return [c for c in self.due if start is None or order(c) > start][:limit]

    async def secret(self, name: str) -> bytes:
        return self.secrets.setdefault(name, b"stored-secret")


class Sent:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def send(self, records: list[OutgoingRecord]) -> list[None]:
        self.records += records
        return [None] * len(records)

    def subjects(self) -> list[str]:
        return [read_cloudevent(r.value, r.headers)["subject"] for r in self.records]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def scheduler(store: DueReferrals, sent: Sent, clock: Clock, **settings: Any) -> ExpiryScheduler:
    return ExpiryScheduler(Settings(**settings), store, sent, lambda: NOW,  # type: ignore[arg-type]
                           batch_limit=10, reask_after=60, monotonic=clock)  # fmt: skip


async def test_one_round_pages_through_every_due_referral_and_asks_each_once() -> None:
    store, sent, clock = DueReferrals(35), Sent(), Clock()
    expiry = scheduler(store, sent, clock)

    assert await expiry.request_due() == 35
    assert sent.subjects() == [c.referral_id for c in store.due]
    assert await expiry.request_due() == 0


async def test_a_referral_never_expired_is_asked_again_only_after_the_back_off() -> None:
    store, sent, clock = DueReferrals(3), Sent(), Clock()
    expiry = scheduler(store, sent, clock)
    await expiry.request_due()

    clock.now = 59
    assert await expiry.request_due() == 0
    clock.now = 61
    assert await expiry.request_due() == 3


async def test_replicas_compute_the_same_ids_and_no_producer_can_without_the_secret() -> None:
    candidate = DueReferrals(1).due[0]
    store_a, store_b = DueReferrals(4), DueReferrals(4)
    first, second = Sent(), Sent()
    await scheduler(store_a, first, Clock()).request_due()
    await scheduler(store_b, second, Clock()).request_due()

    ids = [read_cloudevent(r.value, r.headers)["id"] for r in first.records]
    assert ids == [read_cloudevent(r.value, r.headers)["id"] for r in second.records]
    assert expiry_command_id(b"stored-secret", candidate) == ids[0]
    assert expiry_command_id(b"another", candidate) != ids[0]
    other_tenant = ExpiryCandidate(
        candidate.referral_id, candidate.etag, "org-b", candidate.expiration
    )
    assert expiry_command_id(b"stored-secret", other_tenant) != ids[0]


async def test_a_configured_secret_is_used_instead_of_the_stored_one() -> None:
    store, sent = DueReferrals(1), Sent()

    await scheduler(store, sent, Clock(), expiry_secret="configured").request_due()

    envelope = read_cloudevent(sent.records[0].value, sent.records[0].headers)
    assert envelope["id"] == expiry_command_id(b"configured", store.due[0])
    assert store.secrets == {}
    assert sent.records[0].topic == Settings().commands_topic  # the operators' shared topic
