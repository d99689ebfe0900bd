"""The event of a change the fast path made, as the record ``service.codec.encode_event``
makes of the models' event: the same attributes and payload, the referral embedded as the
bytes it is stored as; and the facts the metrics read of it."""

from datetime import datetime

from service.codec import EVENT_SCHEMA_ID, OutgoingRecord, cloudevent
from service.fast.referral import FastRecord, moment
from service.jsonio import encoded
from service.payloads import EventPayload
from state import EventType, LifecycleState, ReferralStatus, ReferralSubstatus
from state.stamping import event_id_of
from state.values import value_object


@value_object
class FastEvent:
    """What the metrics read of an event (``service.outcomes.EventFacts``)."""

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


def event_record(
    event: FastEvent,
    changed: list[str],
    command_id: str,
    correlation_id: str | None,
    time: str,
    topic: str,
    source: str,
    structured: bool,
    trace: tuple[tuple[str, str], ...],
) -> OutgoingRecord:
    record, previous = event.record, event.previous
    referral_id, version, tenant_id = record.referral_id, record.version, record.tenant_id
    state = record.state
    attributes = {
        "id": event_id_of(referral_id, version, tenant_id),
        "type": str(event.type),
        "source": source,
        "subject": referral_id,
        "time": time,
        "dataschema": EVENT_SCHEMA_ID,
        "causationid": command_id,
        "correlationid": correlation_id,
        "tenantid": tenant_id,
    }
    if trace:
        attributes.update(trace)
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
        "time": time,
        "referral": encoded(record.encoded),
    }
    return cloudevent(topic, referral_id, attributes, payload, structured)
