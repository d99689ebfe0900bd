"""The storage port: what the pipeline needs from a database, whichever backend serves it.

A batch is written in ONE transaction: the changed referrals (each guarded by the version
it was loaded at), the processed-command records that make redelivery harmless, and the
outbox rows to publish. Every backend passes the same contract suite.

Referrals are keyed by (tenant, referral id) and processed commands by (tenant, command
id): a tenant's commands never see another tenant's referrals or command ids, and the
tenant-less ones (``None``) form a namespace of their own.
"""

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from service.codec import OutgoingRecord
from service.fast.referral import AnyRecord
from service.store.query import Page, ReferralQuery
from service.store.webhooks import WebhookStore
from state import CommandKey, ReferralKey, ReferralRecord
from state.values import value_object

#: The referrals per state, in both stores: read from the index of the state alone
#: (``referrals_by_state``), an entry per referral, not from the rows and their documents.
COUNT_BY_STATE = "SELECT status, substatus, count(*) FROM referrals GROUP BY status, substatus"


@value_object
class ReferralWrite:
    #: In either form (``service.fast.referral``).
    record: AnyRecord
    expected_version: int  # 0 for a referral that did not exist when loaded
    #: The referral as read, at ``expected_version``, when known: a store may then write
    #: only the columns that differ from it (None: every column).
    previous: AnyRecord | None = None

    @classmethod
    def over(cls, record: AnyRecord, previous: AnyRecord | None) -> "ReferralWrite":
        """A write of ``record`` over the referral as read (None: a new referral)."""
        return cls(record, previous.version if previous is not None else 0, previous)


@value_object
class ProcessedCommand:
    command_id: str
    referral_id: str | None
    outcome: str
    tenant_id: str | None = None
    #: A rejected command's reason as JSON text (``service.payloads.rejection_reason``),
    #: kept so that the write API answers with it after a restart; None for the others.
    rejection: str | None = None


@value_object
class OutboxEntry:
    source_partition: int
    record: OutgoingRecord
    seq: int = 0  # assigned by the store


async def in_pages(page: int, delete_page: Callable[[], Awaitable[int]]) -> int:
    """Run ``delete_page`` until it deletes fewer than ``page`` rows; how many in all. Each
    page is a transaction of its own, so a batch's write can go between two pages."""
    total = 0
    while True:
        deleted = await delete_page()
        total += deleted
        if deleted < page:
            return total


def entry_keys(entries: Iterable[OutboxEntry]) -> set[bytes]:
    """The record keys (referral ids) of entries; an entry without a key has only itself."""
    return {entry.record.key for entry in entries if entry.record.key is not None}


@dataclass(frozen=True, slots=True)
class ExpiryPosition:
    """Where an expiry scan stopped: due referrals are read in (expiration, tenant, id) order."""

    expiration: datetime
    tenant_id: str | None
    referral_id: str


@dataclass(frozen=True, slots=True)
class ExpiryCandidate:
    """A referral still New past its expiration, as the expiry scheduler needs it."""

    referral_id: str
    etag: str
    tenant_id: str | None
    expiration: datetime

    @property
    def position(self) -> ExpiryPosition:
        return ExpiryPosition(self.expiration, self.tenant_id, self.referral_id)


class ReadReferral(NamedTuple):
    """A referral a batch's decision read and does not write, at the version it read (0:
    absent): the write is refused (StaleWrite) unless the store still holds that version."""

    tenant_id: str | None
    referral_id: str
    version: int


@dataclass(slots=True)
class BatchWrite:
    referrals: list[ReferralWrite] = field(default_factory=list)
    processed: list[ProcessedCommand] = field(default_factory=list)
    outbox: list[OutboxEntry] = field(default_factory=list)
    read: list[ReadReferral] = field(default_factory=list)
    #: What the store built for the write ahead of it (``Store.prepare``), if anything.
    prepared: object = field(default=None, compare=False, repr=False)


#: Publishes outbox entries, oldest first; returns the sequence numbers now published.
Publish = Callable[[list[OutboxEntry]], Awaitable[Collection[int]]]


#: Processed-command records the retention clean-up deletes per transaction: a week of a
#: busy topic is millions of rows, and one DELETE of them all would hold up the batches.
FORGET_PAGE = 5000


class Store(WebhookStore, Protocol):
    #: Whether a batch may be written while the consume loop decides the next one: true
    #: where a write waits on a server, and for SQLite where the machine has a core to spare
    #: for its thread (``SqliteStore``); otherwise the batch is written before the next is
    #: decided, and only its publish runs beside.
    writes_beside_decisions: bool

    async def open(self, migrate: bool = True) -> None:
        """Connect, and bring the schema to this version's. Without ``migrate`` (a reader,
        which must not change the database) nothing is created or upgraded: a store whose
        schema is missing or not this version's raises ConfigurationError."""
        ...

    async def close(self) -> None: ...

    async def load(self, keys: Collection[ReferralKey]) -> dict[ReferralKey, ReferralRecord]: ...

    async def seen(self, keys: Collection[CommandKey]) -> set[CommandKey]: ...

    async def processed(self, key: CommandKey) -> ProcessedCommand | None:
        """The record of the command ``key`` names, if it was processed (the write API
        answers a retry and a status request from it)."""
        ...

    async def load_batch(
        self,
        referrals: Collection[ReferralKey],
        commands: Collection[CommandKey],
        cached: Mapping[ReferralKey, AnyRecord],
    ) -> tuple[dict[ReferralKey, AnyRecord], set[CommandKey]]:
        """``load`` and ``seen`` in one round trip. A referral stored at the version of its
        record in ``cached`` is not read again: that record is returned (a version is written
        once, so the same version is the same referral)."""
        ...

    def prepare(self, batch: BatchWrite) -> None:
        """Build what the write of ``batch`` needs before it is due (the batch is final):
        done while the batch before it lands, it is off the chain of writes and publishes
        that bounds a backlog's drain. ``write`` builds whatever was not prepared."""
        ...

    async def write(self, batch: BatchWrite) -> list[OutboxEntry]:
        """Commit the batch atomically; return its outbox entries with their sequence numbers.

        Raises StaleWrite, writing nothing, when a referral's stored version is not the
        expected one (those it writes and those it only ``read``), a referral it creates
        exists, or a command it records as processed was already.
        """
        ...

    async def pending(self, partitions: Collection[int] | None = None) -> list[OutboxEntry]:
        """Unpublished outbox entries, oldest first; ``None`` means every partition."""
        ...

    async def mark_published(self, seqs: Collection[int]) -> None: ...

    async def publish_in_order(
        self, entries: Sequence[OutboxEntry] | None, publish: Publish
    ) -> None:
        """Hand ``publish`` the entries together with every unpublished entry of the same
        keys (``None``: the whole backlog, a page at a time), oldest first, and delete what
        it reports published. Meanwhile no other replica publishes entries of those keys:
        one referral's events reach Kafka in the order they were stored, whichever replica
        stored them, and an entry is published by one replica at a time.
        """
        ...

    async def get(self, referral_id: str, tenant_id: str | None = None) -> ReferralRecord | None:
        """The referral ``referral_id`` of ``tenant_id`` (None: the tenant-less one)."""
        ...

    async def query(self, query: ReferralQuery, *, count: bool = False) -> Page:
        """One page of stored documents, as written, in the query's order; with ``count``
        also how many referrals match the query's filter in all."""
        ...

    async def count_by_state(self) -> dict[tuple[str, str], int]: ...

    async def outbox_backlog(self) -> int: ...

    async def due_for_expiry(
        self, now: datetime, limit: int, after: ExpiryPosition | None = None
    ) -> list[ExpiryCandidate]:
        """Referrals still New whose expiration is at or before ``now``, in (expiration,
        tenant, id) order, starting past ``after`` (None: from the oldest)."""
        ...

    async def secret(self, name: str) -> bytes:
        """A random secret of the service, made once and then the same for every replica."""
        ...

    async def forget_processed(self, before: datetime, page: int = FORGET_PAGE) -> int:
        """Drop processed-command records older than ``before``, ``page`` rows a transaction
        so batches interleave with a large clean-up; returns how many."""
        ...
