"""The wire format on Kafka: CloudEvents 1.0 with its Kafka protocol binding.

Commands are read in structured mode (the whole envelope as JSON) or binary mode (``ce_*``
headers, ``data`` as the value) by ``service.command_reading`` (re-exported here), and
written for the service's own producers (expiry, the CLI, the benchmark). Events and
rejections are encoded into ``OutgoingRecord``s that are stored in the outbox byte for
byte, so a re-published record is identical to the first, and read back for the CLI.
JSON numbers are read and written as exact decimals.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from service.command_reading import SPEC_VERSION as SPEC_VERSION
from service.command_reading import STRUCTURED_CONTENT_TYPE as STRUCTURED_CONTENT_TYPE
from service.command_reading import Headers, is_structured
from service.command_reading import Undecodable as Undecodable
from service.command_reading import WireLimits as WireLimits
from service.command_reading import decode_command as decode_command
from service.command_reading import read_command as read_command
from service.jsonio import dumps, encoded, loads
from service.payloads import event_payload, rejection_payload
from state import (
    Command,
    ReferralEvent,
    Rejected,
    referral_id_for,
)
from state.fields import format_utc
from state.identity import name_uuid
from state.values import value_object

JSON_CONTENT_TYPE_HEADER: Final = ("content-type", b"application/json")
_SPEC_VERSION_HEADER: Final = ("ce_specversion", SPEC_VERSION.encode())
REJECTED_TYPE: Final = "referral.command.rejected"
#: The ``$id`` of each published JSON Schema starts so; records name theirs in ``dataschema``.
SCHEMA_ID_PREFIX: Final = "urn:referral-lifecycle:schema:"
EVENT_SCHEMA_ID: Final = SCHEMA_ID_PREFIX + "referral.event"
REJECTION_SCHEMA_ID: Final = SCHEMA_ID_PREFIX + REJECTED_TYPE
_REJECTION_IDS: Final = uuid.UUID("0b5f6f2e-0f7a-4c0e-8f0e-3d1b7c5a9e21")


@value_object
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    kind: str  # the CloudEvents type, or "dead-letter"


def encode_event(
    event: ReferralEvent,
    topic: str,
    source: str,
    structured: bool,
    trace: Iterable[tuple[str, str]] = (),
) -> OutgoingRecord:
    attributes = {
        "id": event.event_id,
        "type": str(event.type),
        "source": source,
        "subject": event.referral_id,
        "time": format_utc(event.time),
        "dataschema": EVENT_SCHEMA_ID,
        "causationid": event.command_id,
        "correlationid": event.correlation_id,
        "tenantid": event.tenant_id,
        **dict(trace),
    }
    # The snapshot goes in as the bytes the decision already encoded it to.
    payload = {**event_payload(event), "referral": encoded(event.referral.encoded(dumps))}
    return cloudevent(topic, event.referral_id, attributes, payload, structured)


def encode_rejection(
    command: Command,
    rejected: Rejected,
    topic: str,
    source: str,
    time: str,
    structured: bool,
    trace: Iterable[tuple[str, str]] = (),
) -> OutgoingRecord:
    referral_id = referral_id_for(command)
    # Command ids are per tenant, so the rejection's id is derived from the tenant too.
    scope = (
        command.command_id
        if command.tenant_id is None
        else f"{command.tenant_id}\x00{command.command_id}"
    )
    attributes = {
        "id": name_uuid(_REJECTION_IDS, scope),
        "type": REJECTED_TYPE,
        "source": source,
        "subject": referral_id,
        "time": time,
        "dataschema": REJECTION_SCHEMA_ID,
        "causationid": command.command_id,
        "correlationid": command.correlation_id,
        "tenantid": command.tenant_id,
        **dict(trace),
    }
    payload = rejection_payload(command, rejected)
    return cloudevent(topic, referral_id, attributes, payload, structured)


def cloudevent(
    topic: str, key: str, attributes: Mapping[str, str | None], data: Any, structured: bool
) -> OutgoingRecord:
    """A CloudEvent as a record keyed by ``key``: the attributes (None ones left out) and the
    data, in structured or binary mode."""
    kind = attributes["type"]
    assert kind is not None
    if structured:
        envelope: dict[str, Any] = {"specversion": SPEC_VERSION}
        for name, value in attributes.items():
            if value is not None:
                envelope[name] = value
        envelope["datacontenttype"] = "application/json"
        envelope["data"] = data
        return OutgoingRecord(topic, key.encode(), dumps(envelope), _STRUCTURED_HEADERS, kind)
    headers = [_SPEC_VERSION_HEADER]
    for name, value in attributes.items():
        if value is None:
            continue
        if name in _STABLE:
            header = _STABLE_HEADERS.get((name, value))
            if header is None:
                header = _STABLE_HEADERS[name, value] = (_CE_HEADERS[name], value.encode())
            headers.append(header)
        else:
            headers.append((_CE_HEADERS[name], value.encode()))
    headers.append(JSON_CONTENT_TYPE_HEADER)
    return OutgoingRecord(topic, key.encode(), dumps(data), tuple(headers), kind)


class _HeaderNames(dict[str, str]):
    """The binary-mode header of each attribute, made once per attribute name."""

    def __missing__(self, attribute: str) -> str:
        return f"ce_{attribute}"


_CE_HEADERS: Final = _HeaderNames(
    (name, f"ce_{name}")
    for name in ("id", "type", "source", "subject", "time", "dataschema", "causationid",
                 "correlationid", "tenantid", "traceparent", "tracestate")
)  # fmt: skip
_STRUCTURED_HEADERS: Final = (("content-type", STRUCTURED_CONTENT_TYPE.encode()),)
#: Attributes of few values (a type, the service's source, a schema): their headers are made
#: once per value and shared by every record.
_STABLE: Final = frozenset({"type", "source", "dataschema"})
_STABLE_HEADERS: dict[tuple[str, str], tuple[str, bytes]] = {}


def command_envelope(
    command_type: str,
    command_id: str,
    source: str,
    subject: str | None = None,
    data: Any = None,
    **extensions: str | None,
) -> dict[str, Any]:
    """A command's structured envelope (attributes and ``data``, the value to encode, not its
    JSON Schema: that is ``schemas.command_envelope_schema``); an empty subject, data or
    extension is left out."""
    optional = {"subject": subject, **extensions}
    envelope: dict[str, Any] = {
        **{"specversion": SPEC_VERSION, "id": command_id, "type": command_type, "source": source},
        **{name: value for name, value in optional.items() if value},
    }
    return envelope if data is None else {**envelope, "data": data}


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A command as a Kafka record, keyed by its subject (the referral id)."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


def command_record(envelope: Mapping[str, Any], *, structured: bool = True) -> CommandRecord:
    """A command's CloudEvents envelope (attributes and ``data``) as a record, in either mode."""
    attributes = {"specversion": SPEC_VERSION, **{k: v for k, v in envelope.items() if k != "data"}}
    subject = attributes.get("subject")
    key = str(subject).encode() if subject else None
    if structured:
        value = dumps({**attributes, **({"data": envelope["data"]} if "data" in envelope else {})})
        return CommandRecord(key, value, (("content-type", STRUCTURED_CONTENT_TYPE.encode()),))
    headers = tuple((f"ce_{name}", str(value).encode()) for name, value in attributes.items())
    if envelope.get("data") is None:
        return CommandRecord(key, None, headers)
    return CommandRecord(key, dumps(envelope["data"]), (*headers, JSON_CONTENT_TYPE_HEADER))


def read_cloudevent(value: bytes | None, headers: Headers) -> dict[str, Any]:
    """The attributes and ``data`` of a record the service wrote, in either mode."""
    body = loads(value) if value else None
    if is_structured(headers):
        return dict(body) if isinstance(body, Mapping) else {}
    attributes: dict[str, Any] = {
        name[3:]: raw.decode(errors="replace")
        for name, raw in headers
        if name.startswith("ce_") and raw is not None
    }
    attributes["data"] = body
    return attributes
