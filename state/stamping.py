"""Stamping an applied change: the fields the service owns, the stamp, the event.

The service owns a referral's id, its timestamps, ``eTag`` and ``version``: a patch or a
replace may not set them, and every change carries them over from the stored referral
before the new ones are stamped. ``eTag`` and the event id are derived from the referral's
key (tenant and id) and version, so replaying the same commands yields the same events and
two tenants' referrals of the same id never share an event id.
"""

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from state.commands import Command
from state.enums import ReferralStatus as Status
from state.events import EventType, ReferralEvent
from state.identity import DERIVED_IDS, uuid5_text
from state.json_patch import escape_key, is_object
from state.lifecycle import LifecycleState
from state.owned import SERVICE_OWNED
from state.referral_schema import Referral

#: Owned fields that change on every applied change and so say nothing about what changed.
BOOKKEEPING: Final = frozenset({"updatedDateTime", "eTag", "version"})
#: Python names of the owned fields carried over from the stored referral.
_CARRIED: Final = ("id", "created_date_time", "accepted_date_time", "closed_date_time",
                   "e_tag", "updated_date_time", "version")  # fmt: skip


def is_service_owned(key: str) -> bool:
    return key.casefold() in _OWNED_FOLDED


_OWNED_FOLDED: Final = frozenset(owned.casefold() for owned in SERVICE_OWNED)


def owned_fields(
    before: Referral | None, source: LifecycleState | None, target: LifecycleState, now: datetime
) -> dict[str, Any]:
    """The owned fields of a referral moving from ``source`` (None: a create) to ``target``."""
    fields = {name: getattr(before, name) if before else None for name in _CARRIED}
    fields |= {"status": target.status, "substatus": target.substatus}
    if before is None:
        fields["created_date_time"] = now
    for status, name in (
        (Status.ACTIVE, "accepted_date_time"),
        (Status.CLOSED, "closed_date_time"),
    ):
        if target.status is status and (source is None or source.status is not status):
            fields[name] = now
    return fields


def _scope(tenant_id: str | None, referral_id: str) -> str:
    # Tenant-less referrals keep the derivation they always had; ids hold no control chars.
    return referral_id if tenant_id is None else f"{tenant_id}\x00{referral_id}"


def stamp(
    referral: Referral,
    version: int,
    now: datetime,
    tenant_id: str | None,
    owned: Mapping[str, Any] | None = None,
) -> Referral:
    """``referral`` with the ``owned`` fields (of the schema) and the stamp of ``version``,
    copied once; its document is serialized from it when first asked for."""
    owned = owned or {}
    referral_id = owned.get("id", referral.id)
    assert referral_id is not None
    fields = {**owned, **stamp_fields(referral_id, version, now, tenant_id)}
    return referral.model_copy(update=fields)


def stamp_fields(
    referral_id: str, version: int, now: datetime, tenant_id: str | None
) -> dict[str, Any]:
    """The stamp of ``version``, by Python name: the version, its eTag and the moment."""
    return {
        "version": version,
        "e_tag": etag_of(referral_id, version, tenant_id),
        "updated_date_time": now,
    }


def etag_of(referral_id: str, version: int, tenant_id: str | None) -> str:
    """The eTag of a referral's version."""
    scope = _scope(tenant_id, referral_id)
    digest = hashlib.sha256(f"{scope}\x00{version}".encode()).hexdigest()[:24]
    return f'"{digest}"'


_DERIVED_PREFIX: Final = DERIVED_IDS.bytes


def event_id_of(referral_id: str, version: int, tenant_id: str | None) -> str:
    """The id of the event that recorded a referral's version."""
    scope = referral_id if tenant_id is None else f"{tenant_id}\x00{referral_id}"
    return uuid5_text(_DERIVED_PREFIX, f"event:{scope}:{version}")


def event(
    kind: EventType,
    referral: Referral,
    source: LifecycleState | None,
    changed: tuple[str, ...],
    command: Command,
    now: datetime,
) -> ReferralEvent:
    assert referral.id is not None
    assert referral.version is not None
    assert referral.e_tag is not None
    assert referral.status is not None
    assert referral.substatus is not None
    return ReferralEvent(
        event_id=event_id_of(referral.id, referral.version, command.tenant_id),
        type=kind,
        referral_id=referral.id,
        version=referral.version,
        etag=referral.e_tag,
        status=referral.status,
        substatus=referral.substatus,
        previous_status=source.status if source else None,
        previous_substatus=source.substatus if source else None,
        changed_paths=changed,
        command_id=command.command_id,
        correlation_id=command.correlation_id,
        time=now,
        referral=referral,
        tenant_id=command.tenant_id,
    )


def top_level_paths(document: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(f"/{escape_key(key)}" for key in document if key not in BOOKKEEPING)


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """JSON Pointers of what differs; recursion is bounded by the depth limit on documents."""
    if is_object(before) and is_object(after):
        changed: list[str] = []
        for key in [*before, *(k for k in after if k not in before)]:
            old, new = before.get(key), after.get(key)
            if old is new or (not prefix and key in BOOKKEEPING):
                continue  # a part a change did not touch is shared, not copied
            if old == new:
                continue  # what the walk below would find, compared at C speed
            changed += changed_paths(old, new, f"{prefix}/{escape_key(key)}")
        return changed
    return [] if before == after else [prefix]
