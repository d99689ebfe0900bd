"""Expiry: referrals still New past their ``expirationDateTime`` are closed as Expired.

The scheduler does not change referrals itself. It publishes a ``referral.expire``
command per due referral to the shared commands topic, so expiry goes through the same
ordered, deduplicated path as every other change. The command carries the referral's eTag
as ``ifmatch`` and its tenant as ``tenantid``; its id is an HMAC of the tenant, referral
id and eTag under the service's secret: no producer can compute it in advance to burn it,
yet every replica computes the same one, so several replicas scanning take effect once,
and a referral that changed in the meantime is left alone (``preconditionFailed``). A
command naming a tenant is signed under the same secret (``expirysignature``, see
``service.tenancy``): in multi-tenant mode only a signed expiry acts as the tenant it names.

A scan reads due referrals in (expiration, tenant, id) order a page at a time, carrying on
from where the last page stopped and starting over once it reaches the end. A referral
asked for is asked again only after ``reask_after`` seconds: referrals whose expiry is
refused (or never applied) cost a page read, never a stop, and memory stays bounded.
"""

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from service.codec import OutgoingRecord, command_envelope, command_record
from service.consume.publisher import OutboxPublisher
from service.settings import Settings
from service.store import ExpiryCandidate, ExpiryPosition, Store
from service.tenancy import EXPIRY_SIGNATURE, expiry_signature
from state import CommandType

log = logging.getLogger(__name__)
BATCH_LIMIT: Final = 500
#: Pages one round reads at most, so a round's time stays bounded however many are due.
PAGES_PER_ROUND: Final = 20
#: How long a referral asked for is not asked again.
REASK_AFTER_SECONDS: Final = 600.0
_REMEMBERED: Final = 50_000
REASON: Final = "Expired: not answered before its expirationDateTime"
SECRET_NAME: Final = "expiry-command-ids"


def expiry_command_id(secret: bytes, candidate: ExpiryCandidate) -> str:
    tenant = candidate.tenant_id or ""
    message = f"{tenant}\x00{candidate.referral_id}\x00{candidate.etag}".encode()
    return "expire-" + hmac.new(secret, message, hashlib.sha256).hexdigest()[:40]


async def expiry_key(settings: Settings, store: Store) -> bytes:
    """The expiry secret: the configured one, else the one the store keeps (made at the
    first start; the store must be open)."""
    configured = settings.expiry_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    return await store.secret(SECRET_NAME)


def signed_expire_command(
    command_id: str,
    source: str,
    referral_id: str,
    tenant_id: str | None,
    key: bytes | None,
    *,
    if_match: str | None = None,
    reason: str | None = REASON,
) -> dict[str, Any]:
    """A ``referral.expire`` envelope, signed for its tenant when it names one (``key``
    is then required: the expiry secret)."""
    signature = None
    if tenant_id is not None:
        if key is None:
            raise ValueError("an expiry naming a tenant is signed with the expiry secret")
        signature = expiry_signature(key, command_id, referral_id, tenant_id, if_match)
    return command_envelope(
        CommandType.EXPIRE.value,
        command_id,
        source,
        referral_id,
        {"statusReason": reason} if reason else None,
        ifmatch=if_match,
        tenantid=tenant_id,
        **{EXPIRY_SIGNATURE: signature},
    )


def expire_command(candidate: ExpiryCandidate, source: str, secret: bytes) -> dict[str, Any]:
    """The scheduler's command for a due referral."""
    return signed_expire_command(
        expiry_command_id(secret, candidate),
        source,
        candidate.referral_id,
        candidate.tenant_id,
        secret,
        if_match=candidate.etag,
    )


class ExpiryScheduler:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        publisher: OutboxPublisher,
        clock: Callable[[], datetime],
        *,
        batch_limit: int = BATCH_LIMIT,
        reask_after: float = REASK_AFTER_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.batch_limit = batch_limit
        self.reask_after = reask_after
        self.monotonic = monotonic
        self._secret: bytes | None = None
        self._position: ExpiryPosition | None = None
        self._asked: dict[str, float] = {}  # command id -> when it was published

    async def request_due(self) -> int:
        """Publish an expire command for each due referral not asked for lately, reading
        up to ``PAGES_PER_ROUND`` pages; returns how many commands were published."""
        secret = await self._key()
        now, published = self.clock(), 0
        self._forget_old()
        for _ in range(PAGES_PER_ROUND):
            page = await self.store.due_for_expiry(now, self.batch_limit, self._position)
            published += await self._ask(page, secret)
            # A short page is the end: the next page starts over from the oldest.
            self._position = page[-1].position if len(page) == self.batch_limit else None
            if self._position is None:
                break
        if published:
            log.info("requested expiry", extra={"referrals": published})
        return published

    async def _ask(self, page: list[ExpiryCandidate], secret: bytes) -> int:
        source = self.settings.event_source
        fresh = [
            envelope
            for envelope in (expire_command(c, source, secret) for c in page)
            if envelope["id"] not in self._asked
        ]
        topic = self.settings.commands_topic
        outgoing = [
            OutgoingRecord(topic, r.key, r.value, r.headers, CommandType.EXPIRE.value)
            for r in (command_record(envelope) for envelope in fresh)
        ]
        failures = [error for error in await self.publisher.send(outgoing) if error is not None]
        if failures:
            raise failures[0]  # the next round asks again: the command ids are the same
        asked_at = self.monotonic()
        self._asked.update((envelope["id"], asked_at) for envelope in fresh)
        return len(fresh)

    async def _key(self) -> bytes:
        if self._secret is None:
            self._secret = await expiry_key(self.settings, self.store)
        return self._secret

    def _forget_old(self) -> None:
        cutoff = self.monotonic() - self.reask_after
        self._asked = {key: at for key, at in self._asked.items() if at > cutoff}
        if len(self._asked) > _REMEMBERED:
            # Beyond the bound, forget the oldest: at worst a referral is asked again early.
            newest = sorted(self._asked.items(), key=lambda item: item[1])[-_REMEMBERED:]
            self._asked = dict(newest)
