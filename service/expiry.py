"""Expiry: referrals still New past their ``expirationDateTime`` are closed as Expired.

The scheduler does not change referrals itself. It publishes a ``referral.expire``
command per due referral to the commands topic, so expiry goes through the same ordered,
deduplicated path as every other change. The command id is derived from the referral and
its eTag, and the command carries that eTag as ``ifmatch``: several replicas scanning the
same store publish the same command, which takes effect once, and a referral that changed
in the meantime is left alone (the command is refused as ``preconditionFailed``).
"""

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from service.codec import OutgoingRecord, command_envelope, command_record
from service.publisher import OutboxPublisher
from service.settings import Settings
from service.store import ExpiryCandidate, Store
from state import CommandType

log = logging.getLogger(__name__)
_EXPIRY_IDS: Final = uuid.UUID("3c8f0a4e-5b1d-4e2a-9f6c-7d0b8a1e2f34")
BATCH_LIMIT: Final = 500
_REMEMBERED: Final = 50_000
REASON: Final = "Expired: not answered before its expirationDateTime"


def expire_command(candidate: ExpiryCandidate, source: str) -> dict[str, Any]:
    return command_envelope(
        CommandType.EXPIRE.value,
        str(uuid.uuid5(_EXPIRY_IDS, f"{candidate.referral_id}\x00{candidate.etag}")),
        source,
        candidate.referral_id,
        {"statusReason": REASON},
        ifmatch=candidate.etag,
        tenantid=candidate.tenant_id,
    )


class ExpiryScheduler:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        publisher: OutboxPublisher,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self._requested: set[str] = set()

    async def request_due(self) -> int:
        """Publish an expire command for each due referral not yet asked for; returns how many."""
        due = await self.store.due_for_expiry(self.clock(), BATCH_LIMIT)
        commands = [expire_command(c, self.settings.event_source) for c in due]
        fresh = [c for c in commands if c["id"] not in self._requested]
        topic = self.settings.commands_topic
        records = [command_record(envelope) for envelope in fresh]
        outgoing = [
            OutgoingRecord(topic, r.key, r.value, r.headers, CommandType.EXPIRE.value)
            for r in records
        ]
        failures = [error for error in await self.publisher.send(outgoing) if error is not None]
        if failures:
            raise failures[0]  # the next round asks again: the command ids are the same
        if len(self._requested) > _REMEMBERED:
            self._requested.clear()
        self._requested.update(c["id"] for c in fresh)
        if fresh:
            log.info("requested expiry", extra={"referrals": len(fresh)})
        return len(fresh)
