"""Which stored events become webhook notifications, and what a notification says.

An applied event of a referral's creation is ``referral-created``, every other applied
event ``referral-updated``; rejections, dead letters and expiry requests are none. A
notice is read from the outgoing record itself (its kind, key and CloudEvents attributes)
so that a store can record it in the very transaction that stores the event.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import msgspec

from service.codec import OutgoingRecord
from service.jsonio import dumps
from state.events import EventType

CREATED: Final = "referral-created"
UPDATED: Final = "referral-updated"
#: The test event of ``POST /webhooks/v1/registration/validationEvents``.
TEST: Final = "test-created"
#: What a registration may ask for.
EVENTS: Final = (CREATED, UPDATED)
_BY_KIND: Final = {
    kind.value: CREATED if kind is EventType.CREATED else UPDATED for kind in EventType
}


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification to send, before the registrations it goes to are known."""

    tenant: str  # the store's tenant column: '' for the tenant-less
    referral_id: str
    event: str
    changed_at: str  # the event's time, ISO 8601 UTC


class _Attributes(msgspec.Struct):
    """The attributes a structured-mode event carries in its value."""

    time: str = ""
    tenantid: str | None = None


_ATTRIBUTES: Final = msgspec.json.Decoder(_Attributes)


def notices_of(records: Iterable[OutgoingRecord], now: str) -> list[Notice]:
    """The notices of the events among ``records`` (``now``: the time of one whose time is
    not at hand)."""
    found = []
    for record in records:
        event = _BY_KIND.get(record.kind)
        if event is None or record.key is None:
            continue
        tenant, time = _tenant_and_time(record)
        found.append(Notice(tenant, record.key.decode(), event, time or now))
    return found


def _tenant_and_time(record: OutgoingRecord) -> tuple[str, str]:
    tenant, time, binary = "", "", False
    for name, value in record.headers:
        if name == "ce_tenantid" and value is not None:
            tenant = value.decode()
        elif name == "ce_time" and value is not None:
            time, binary = value.decode(), True
    if binary or record.value is None:
        return tenant, time
    try:
        attributes = _ATTRIBUTES.decode(record.value)
    except msgspec.DecodeError:
        return tenant, time
    return attributes.tenantid or "", attributes.time


def resource_uri(public_url: str, referral_id: str) -> str:
    """Where a receiver GETs the referral: this service's read API (Partner Center's own
    ResourceUri names its ``/engagements/v1/referrals`` path, which this service does not
    serve)."""
    return f"{public_url.rstrip('/')}/v1.0/engagements/referrals/{quote(referral_id, safe='')}"


def body(event: str, public_url: str, referral_id: str, changed_at: str) -> bytes:
    """The notification as Partner Center sends it: thin, PascalCase, no referral data."""
    return dumps(
        {
            "EventName": event,
            "ResourceUri": resource_uri(public_url, referral_id),
            "ResourceName": "referral",
            "AuditUri": None,
            "ResourceChangeUtcDate": _offset_form(changed_at),
        }
    )


def _offset_form(moment: str) -> str:
    """Partner Center writes UTC as ``+00:00``; the events write ``Z``."""
    return moment[:-1] + "+00:00" if moment.endswith("Z") else moment
