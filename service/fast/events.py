"""The event of a change the fast path made, as the record ``service.codec.encode_event``
makes of the models' event: the same attributes and payload, the referral embedded as the
bytes it is stored as; and the facts the metrics read of it."""

from datetime import datetime
from typing import Final

import msgspec
import orjson

from service.codec import (
    EVENT_SCHEMA_ID,
    JSON_CONTENT_TYPE_HEADER,
    SPEC_VERSION,
    OutgoingRecord,
    cloudevent,
)
from service.fast.referral import FastRecord, moment
from service.jsonio import encoded
from service.payloads import EventPayload
from state import EventType, LifecycleState, ReferralStatus, ReferralSubstatus
from state.stamping import event_id_of


class FastEvent(msgspec.Struct, frozen=True, gc=False):
    """What the metrics read of an event (``service.outcomes.EventFacts``); a Struct, built
    in C."""

    type: EventType
    record: FastRecord
    previous: LifecycleState | None

    @property
    def previous_status(self) -> ReferralStatus | None:
        return self.previous.status if self.previous else None

    @property
    def previous_substatus(self) -> ReferralSubstatus | None:
        return self.previous.substatus if self.previous else None

    @property
    def status(self) -> ReferralStatus:
        return self.record.state.status

    @property
    def substatus(self) -> ReferralSubstatus:
        return self.record.state.substatus

    def lifetime(self) -> tuple[datetime | None, datetime | None, datetime | None]:
        referral = self.record.referral
        return (
            moment(referral.created_date_time),
            moment(referral.accepted_date_time),
            moment(referral.closed_date_time),
        )


class EventHeaders:
    """What every event record of a batch shares, made once: its topic, its mode, and the
    binary-mode headers of the attributes all its events have in common (spec version,
    source, time, schema, each type), as ``service.codec.cloudevent`` writes them."""

    __slots__ = ("_common", "source", "structured", "time", "topic", "types")

    def __init__(self, topic: str, source: str, time: str, structured: bool) -> None:
        self.topic, self.source, self.time, self.structured = topic, source, time, structured
        self.types = {kind: ("ce_type", str(kind).encode()) for kind in EventType}
        self._common = (
            ("ce_source", source.encode()),
            ("ce_time", time.encode()),
            ("ce_dataschema", EVENT_SCHEMA_ID.encode()),
        )

    def binary(
        self,
        event_id: str,
        kind: EventType,
        subject: bytes,
        command_id: str,
        correlation_id: str | None,
        tenant_id: str | None,
        trace: tuple[tuple[str, str], ...],
    ) -> tuple[tuple[str, bytes | None], ...]:
        """The headers of a binary-mode event, in the attributes' order (None ones left
        out), each trace attribute after them, the content type last."""
        source, time, schema = self._common
        headers: list[tuple[str, bytes | None]] = [
            _SPEC_VERSION,
            ("ce_id", event_id.encode()),
            self.types[kind],
            source,
            ("ce_subject", subject),
            time,
            schema,
            ("ce_causationid", command_id.encode()),
        ]
        if correlation_id is not None:
            headers.append(("ce_correlationid", correlation_id.encode()))
        if tenant_id is not None:
            headers.append(("ce_tenantid", tenant_id.encode()))
        for name, value in trace:
            headers.append((f"ce_{name}", value.encode()))
        headers.append(JSON_CONTENT_TYPE_HEADER)
        return tuple(headers)


_SPEC_VERSION: Final = ("ce_specversion", SPEC_VERSION.encode())


def event_record(
    event: FastEvent,
    changed: list[str],
    command_id: str,
    correlation_id: str | None,
    shared: EventHeaders,
    trace: tuple[tuple[str, str], ...],
) -> OutgoingRecord:
    record, previous = event.record, event.previous
    referral_id, version, tenant_id = record.referral_id, record.version, record.tenant_id
    state = record.state
    event_id = event_id_of(referral_id, version, tenant_id)
    payload: EventPayload = {
        "referralId": referral_id,
        "tenantId": tenant_id,
        "version": version,
        "eTag": str(record.referral.e_tag),
        "status": state.status,
        "substatus": state.substatus,
        "previousStatus": previous.status if previous else None,
        "previousSubstatus": previous.substatus if previous else None,
        "changedPaths": changed,
        "commandId": command_id,
        "correlationId": correlation_id,
        "time": shared.time,
        "referral": encoded(record.encoded),
    }
    if shared.structured:
        return _structured(event, event_id, command_id, correlation_id, shared, trace, payload)
    subject = referral_id.encode()
    headers = shared.binary(
        event_id, event.type, subject, command_id, correlation_id, tenant_id, trace
    )
    # Nothing in it needs ``jsonio.dumps``'s exact decimals (the referral is encoded already).
    value = orjson.dumps(payload)
    return OutgoingRecord(shared.topic, subject, value, headers, str(event.type))


def _structured(
    event: FastEvent,
    event_id: str,
    command_id: str,
    correlation_id: str | None,
    shared: EventHeaders,
    trace: tuple[tuple[str, str], ...],
    payload: EventPayload,
) -> OutgoingRecord:
    referral_id, tenant_id = event.record.referral_id, event.record.tenant_id
    attributes = {
        "id": event_id,
        "type": str(event.type),
        "source": shared.source,
        "subject": referral_id,
        "time": shared.time,
        "dataschema": EVENT_SCHEMA_ID,
        "causationid": command_id,
        "correlationid": correlation_id,
        "tenantid": tenant_id,
    }
    if trace:
        attributes.update(trace)
    return cloudevent(shared.topic, referral_id, attributes, payload, True)
