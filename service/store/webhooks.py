"""The webhook part of the storage port: registrations (one per tenant, as in Partner
Center) and the deliveries recorded with their events, claimed by dispatchers under a
lease, delivered, retried, or parked when their endpoint keeps failing.

A delivery is ``pending`` (due at ``next_attempt``), ``delivered`` (kept for the
retention window, then forgotten) or ``parked`` (its registration is failing; a replay
makes it pending again). A claim moves ``next_attempt`` past the lease, so a dispatcher
that dies mid-send leaves the delivery due again once the lease ends (at least once). A
delivery is not claimed while an earlier one of its referral is pending and not due (in
flight, or waiting for its retry): one referral's notifications go in the order stored.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from service.webhooks.notices import Notice

ACTIVE: Final = "active"
FAILING: Final = "failing"
PENDING: Final = "pending"
DELIVERED: Final = "delivered"
PARKED: Final = "parked"


@dataclass(frozen=True, slots=True)
class Registration:
    tenant: str  # the store's tenant column: '' for the tenant-less
    url: str
    events: tuple[str, ...]
    secret: str
    state: str = ACTIVE
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery as a claim hands it out, with where and how to send it."""

    id: str
    tenant: str
    referral_id: str
    event: str
    changed_at: str
    attempts: int  # including the claimed one
    retry_from: datetime  # retried until this plus the retry period
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """A delivery as ``referrals webhooks show`` lists it."""

    id: str
    referral_id: str
    event: str
    state: str
    attempts: int
    next_attempt: datetime
    last_error: str | None


@dataclass(frozen=True, slots=True)
class WebhookCounts:
    pending: int
    parked: int
    failing_endpoints: int


class WebhookStore(Protocol):
    async def save_registration(self, registration: Registration) -> None:
        """Create or replace the tenant's registration (made active again)."""
        ...

    async def registration(self, tenant: str) -> Registration | None: ...

    async def registrations(self) -> list[Registration]: ...

    async def delete_registration(self, tenant: str) -> bool:
        """Delete it and its undelivered deliveries; whether there was one."""
        ...

    async def enqueue_notices(self, notices: Sequence[Notice]) -> int:
        """Record notices outside a batch (the test event), for the tenants registered
        for them; how many deliveries were recorded."""
        ...

    async def claim_deliveries(
        self, now: datetime, lease_seconds: float, per_tenant: int, busy: Collection[str]
    ) -> list[Delivery]:
        """Due pending deliveries, oldest first, at most ``per_tenant`` of a tenant and
        none of the ``busy`` tenants; each counted an attempt and hidden for the lease."""
        ...

    async def delivered(self, delivery_id: str, now: datetime) -> None: ...

    async def retry_later(self, delivery_id: str, at: datetime, error: str) -> None: ...

    async def park(self, tenant: str, error: str) -> None:
        """Mark the tenant's registration failing and park its pending deliveries."""
        ...

    async def replay(self, tenant: str, now: datetime) -> int:
        """Make the parked deliveries pending and due now, and the registration active;
        how many."""
        ...

    async def deliveries(self, tenant: str, limit: int) -> list[DeliveryRow]: ...

    async def webhook_counts(self) -> WebhookCounts: ...

    async def forget_delivered(self, before: datetime) -> int: ...
