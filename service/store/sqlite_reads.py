"""The SQLite store's reads: referrals and processed commands by key, outbox rows, and the
read API's pages, each a function of a connection, run on whichever thread reads."""

import sqlite3
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from service.fast.referral import AnyRecord
from service.store.base import (
    COUNT_BY_STATE,
    ExpiryCandidate,
    ExpiryPosition,
    OutboxEntry,
    ProcessedCommand,
)
from service.store.query import (
    All,
    Dialect,
    Filter,
    Page,
    ReferralQuery,
    TeamMember,
    condition,
    ordering,
)
from service.store.rows import (
    consumed_from_row,
    expiry_candidate,
    outgoing_from_row,
    position_of,
    referral_from_row,
    tenant_column,
    tenant_of,
)
from state import CommandKey, ReferralKey, ReferralRecord
from state.fields import format_utc, parse_utc

T = TypeVar("T")
_ON_KEY = "JOIN referrals r ON (r.tenant_id, r.id) = (k.t, k.i)"
_REFERRALS_BY_KEY = f"SELECT r.document, r.tenant_id FROM {{keys}} {_ON_KEY}"
_VERSIONS_BY_KEY = f"SELECT r.tenant_id, r.id, r.version FROM {{keys}} {_ON_KEY}"
_SEEN_BY_KEY = (
    "SELECT p.tenant_id, p.command_id FROM {keys} JOIN processed_commands p"
    " ON (p.tenant_id, p.command_id) = (k.t, k.i)"
)
_PROCESSED = (
    "SELECT referral_id, outcome, rejection FROM processed_commands"
    " WHERE tenant_id = ? AND command_id = ?"
)
_OUTBOX_ROWS = "SELECT seq, source_partition, topic, key, value, headers, kind FROM outbox"
#: An outbox row not marked published (``sqlite_outbox``).
UNPUBLISHED = (
    "NOT EXISTS (SELECT 1 FROM outbox_published p WHERE outbox.seq BETWEEN p.first AND p.last)"
)
#: Through the index of the New referrals by expiration, whose range ends at ``now``:
#: without statistics SQLite would rather take the index of the states, then read and sort
#: every New referral (a whole scan of a large store every expiry interval).
DUE_FOR_EXPIRY = (
    "SELECT document, tenant_id, expiration FROM referrals INDEXED BY referrals_due"
    " WHERE status = 'New' AND expiration <= ? AND (expiration, tenant_id, id) > (?, ?, ?)"
    " ORDER BY expiration, tenant_id, id LIMIT ?"
)


def referrals(
    db: sqlite3.Connection, keys: Collection[ReferralKey]
) -> dict[ReferralKey, ReferralRecord]:
    records = (referral_from_row(*row) for row in _by_pairs(db, _REFERRALS_BY_KEY, keys))
    return {record.key: record for record in records}


def _consumed(
    db: sqlite3.Connection, keys: Collection[ReferralKey]
) -> dict[ReferralKey, AnyRecord]:
    """``referrals`` as the consume side loads them (``rows.consumed_from_row``)."""
    records = (consumed_from_row(*row) for row in _by_pairs(db, _REFERRALS_BY_KEY, keys))
    return {record.key: record for record in records}


def seen(db: sqlite3.Connection, keys: Collection[CommandKey]) -> set[CommandKey]:
    rows = _by_pairs(db, _SEEN_BY_KEY, keys)
    return {CommandKey(tenant_of(tenant), command_id) for tenant, command_id in rows}


def processed(db: sqlite3.Connection, key: CommandKey) -> ProcessedCommand | None:
    row = db.execute(_PROCESSED, (tenant_column(key.tenant_id), key.command_id)).fetchone()
    if row is None:
        return None
    return ProcessedCommand(key.command_id, row[0], row[1], key.tenant_id, row[2])


def batch_inputs(
    db: sqlite3.Connection,
    keys: Collection[ReferralKey],
    commands: Collection[CommandKey],
    cached: Mapping[ReferralKey, AnyRecord],
) -> tuple[dict[ReferralKey, AnyRecord], set[CommandKey]]:
    """A batch's referrals (those cached at their stored version not read again) and the
    commands among its own already processed."""
    loaded: dict[ReferralKey, AnyRecord] = {}
    stale: list[ReferralKey] = []
    for tenant, referral_id, version in _by_pairs(db, _VERSIONS_BY_KEY, keys):
        key = ReferralKey(tenant_of(tenant), referral_id)
        hit = cached.get(key)
        if hit is not None and hit.version == version:
            loaded[key] = hit
        else:
            stale.append(key)
    return loaded | _consumed(db, stale), seen(db, commands)


def outbox_rows(db: sqlite3.Connection, seqs: list[int] | None) -> list[OutboxEntry]:
    """Unpublished outbox rows oldest first: all of them (``None``), or those of the given
    seqs."""
    if seqs is None:
        chunks = [db.execute(f"{_OUTBOX_ROWS} WHERE {UNPUBLISHED} ORDER BY seq")]
    else:
        chunks = [
            db.execute(
                f"{_OUTBOX_ROWS} WHERE seq IN ({','.join('?' * len(chunk))}) AND {UNPUBLISHED}",
                chunk,
            )
            for chunk in power_of_two_chunks(seqs)
        ]
    rows = sorted((row for chunk in chunks for row in chunk), key=lambda row: row[0])
    return [OutboxEntry(partition, outgoing_from_row(*rest), seq) for seq, partition, *rest in rows]


def page(db: sqlite3.Connection, query: ReferralQuery, count: bool) -> Page:
    dialect = _dialect(query)
    rows = db.execute(
        f"SELECT document, {query.order.name}, tenant_id, id FROM referrals"
        f" WHERE {condition(query, dialect)} ORDER BY {ordering(query, dialect)}"
        f" LIMIT {int(query.limit)}",
        dialect.params,
    ).fetchall()
    total = _count(db, query) if count else None
    positions = [position_of(value, tenant, name) for _, value, tenant, name in rows]
    return Page([bytes(row[0]) for row in rows], positions, total)


def count_by_state(db: sqlite3.Connection) -> dict[tuple[str, str], int]:
    return {(status, sub): n for status, sub, n in db.execute(COUNT_BY_STATE)}


def due_for_expiry(
    db: sqlite3.Connection, now: datetime, limit: int, after: ExpiryPosition | None
) -> list[ExpiryCandidate]:
    start = ("", "", "") if after is None else (
        format_utc(after.expiration), tenant_column(after.tenant_id), after.referral_id
    )  # fmt: skip
    rows = db.execute(
        DUE_FOR_EXPIRY,
        (format_utc(now), *start, limit),
    )
    return [expiry_candidate(doc, tenant, parse_utc(at)) for doc, tenant, at in rows]


def _dialect(query: ReferralQuery) -> Dialect:
    """Numbered parameters (``?N``), so a condition may add one out of text order."""
    # When every match is on a given team, those few are found through the team table and
    # sorted, rather than found by walking the whole order index.
    dialect = Dialect(
        placeholder=lambda n: f"?{n}",
        time_value=format_utc,
        team_member=str,
        indexed_order=not _on_a_team(query.where),
    )
    if query.tenant_id is None:
        dialect.team_member = lambda mark: (
            f"(tenant_id, id) IN (SELECT tenant_id, referral_id FROM referral_team"
            f" WHERE email = {mark})"
        )
    else:
        tenant = query.tenant_id
        dialect.team_member = lambda mark: (
            f"id IN (SELECT referral_id FROM referral_team"
            f" WHERE email = {mark} AND tenant_id = {dialect.param(tenant)})"
        )
    return dialect


def _on_a_team(where: Filter | None) -> bool:
    if isinstance(where, TeamMember):
        return True
    return isinstance(where, All) and any(_on_a_team(o) for o in where.operands)


def _count(db: sqlite3.Connection, query: ReferralQuery) -> int:
    dialect = _dialect(query)
    sql = f"SELECT count(*) FROM referrals WHERE {condition(query, dialect, paged=False)}"
    return int(db.execute(sql, dialect.params).fetchone()[0])


def _by_pairs(
    db: sqlite3.Connection, sql: str, keys: Collection[tuple[str | None, str]]
) -> Iterator[Any]:
    """Rows of ``sql`` for the (tenant, id) ``keys``, a chunk at a time: ``{keys}`` in it is
    the table k(t, i) of one chunk, to be joined on the primary key (a row-value ``IN``
    would scan the whole table)."""
    pairs = [(tenant_column(tenant), name) for tenant, name in keys]
    for chunk in power_of_two_chunks(pairs):
        marks = ",".join("(?, ?)" for _ in chunk)
        table = f"(SELECT column1 AS t, column2 AS i FROM (VALUES {marks})) AS k"
        yield from db.execute(sql.format(keys=table), [v for p in chunk for v in p])


def power_of_two_chunks(items: list[T], largest: int = 256) -> Iterator[list[T]]:
    """``items`` in chunks of 256, 128, ... 1: a statement with a list of values is compiled
    and cached per length of the list, so only these nine ever are (not one per size)."""
    start, size = 0, largest
    while start < len(items):
        while size > len(items) - start:
            size //= 2
        yield items[start : start + size]
        start += size
