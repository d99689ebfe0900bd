"""The wire format on Kafka: CloudEvents 1.0 with its Kafka protocol binding.

Commands are read in structured mode (the whole envelope as JSON) or binary mode (``ce_*``
headers, ``data`` as the value), and written for the service's own producers (expiry, the
CLI, the benchmark). Events and rejections are encoded into ``OutgoingRecord``s that are
stored in the outbox byte for byte, so a re-published record is identical to the first,
and read back for the CLI. JSON numbers are read and written as exact decimals.
"""

import base64
import binascii
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from service.jsonio import JsonRefused, dumps, encoded, loads
from service.payloads import event_payload, rejection_payload
from state import (
    Command,
    CommandType,
    ReferralEvent,
    Rejected,
    referral_id_for,
)
from state.commands import TextExtent
from state.fields import format_utc
from state.identity import name_uuid
from state.limits import identifier_problem
from state.values import value_object

SPEC_VERSION: Final = "1.0"
STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
JSON_CONTENT_TYPE_HEADER: Final = ("content-type", b"application/json")
_SPEC_VERSION_HEADER: Final = ("ce_specversion", SPEC_VERSION.encode())
REJECTED_TYPE: Final = "referral.command.rejected"
#: The ``$id`` of each published JSON Schema starts so; records name theirs in ``dataschema``.
SCHEMA_ID_PREFIX: Final = "urn:referral-lifecycle:schema:"
EVENT_SCHEMA_ID: Final = SCHEMA_ID_PREFIX + "referral.event"
REJECTION_SCHEMA_ID: Final = SCHEMA_ID_PREFIX + REJECTED_TYPE
_REJECTION_IDS: Final = uuid.UUID("0b5f6f2e-0f7a-4c0e-8f0e-3d1b7c5a9e21")
_COMMAND_TYPES: Final = {member.value: member for member in CommandType}
#: Attributes that are stored or used as keys; a string of the service's shape or absent.
_IDENTIFYING_ATTRIBUTES: Final = ("id", "subject", "tenantid", "correlationid", "ifmatch")
_MESSAGE_LENGTH: Final = 500

Headers = Sequence[tuple[str, bytes]]


class Undecodable(Exception):
    """A record that is not a command at all; it goes to the dead-letter topic."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message[:_MESSAGE_LENGTH]


@value_object
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    kind: str  # the CloudEvents type, or "dead-letter"


@dataclass(frozen=True, slots=True)
class WireLimits:
    """What a record must respect to be read as a command at all."""

    max_bytes: int = 1_048_576
    max_attribute_length: int = 256


def decode_command(value: bytes | None, headers: Headers, limits: WireLimits) -> Command:
    """Read one command record; raises Undecodable when it cannot be a command.

    The ``content-type`` header decides the mode, as the Kafka binding says: structured
    for ``application/cloudevents*`` (any ``ce_*`` headers beside it are ignored), else
    binary when ``ce_specversion`` is present, else a structured envelope without the header.
    """
    if value is not None and len(value) > limits.max_bytes:
        raise Undecodable(
            "too-large", f"record of {len(value)} bytes exceeds {limits.max_bytes} bytes"
        )
    attributes = {} if _is_structured(headers) else _ce_headers(headers)
    if "specversion" in attributes:
        envelope: dict[str, Any] = {**attributes, "data": _json(value) if value else None}
        text = value
    else:
        envelope, text = _structured(value)
    return _command(envelope, limits, TextExtent.of(text) if text else None)


def _is_structured(headers: Headers) -> bool:
    for name, raw in headers:
        if name.lower() == "content-type" and raw is not None:
            return raw.strip().lower().startswith(b"application/cloudevents")
    return False


def _structured(value: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    """The envelope, and the text its data was read from (the value, or data_base64's)."""
    parsed = _json(value)
    if not isinstance(parsed, Mapping) or "specversion" not in parsed:
        raise Undecodable(
            "not-cloudevent", "neither ce_* headers nor a structured CloudEvents envelope"
        )
    envelope, text = dict(parsed), value
    if "data_base64" in envelope and "data" not in envelope:
        encoded = envelope["data_base64"]
        try:
            text = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise Undecodable("not-json", "data_base64 is not base64") from None
        envelope["data"] = _json(text)
    return envelope, text


def _json(value: bytes | None) -> Any:
    if value is None:
        raise Undecodable("not-json", "the record has no value")
    try:
        return loads(value)
    except JsonRefused as error:
        raise Undecodable("not-json", f"value is {error}") from None


def _ce_headers(headers: Headers) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for name, raw in headers:
        if name.startswith("ce_") and raw is not None:
            try:
                attributes[name[3:]] = raw.decode()
            except UnicodeDecodeError:
                raise Undecodable("not-cloudevent", f"header {name[:64]} is not UTF-8") from None
    return attributes


def _command(envelope: Mapping[str, Any], limits: WireLimits, extent: TextExtent | None) -> Command:
    if envelope.get("specversion") != SPEC_VERSION:
        raise Undecodable("not-cloudevent", "specversion is not 1.0")
    missing = [name for name in ("id", "type", "source") if not _text(envelope.get(name))]
    if missing:
        raise Undecodable("not-cloudevent", f"missing CloudEvents attributes: {', '.join(missing)}")
    command_type = _COMMAND_TYPES.get(str(envelope["type"]))
    if command_type is None:
        known = ", ".join(_COMMAND_TYPES)
        raise Undecodable("unknown-type", f"type is not one of {known}")
    for name in _IDENTIFYING_ATTRIBUTES:
        problem = identifier_problem(envelope.get(name), limits.max_attribute_length)
        if problem is not None:
            raise Undecodable("invalid-attribute", f"attribute {name} {problem}")
    command = Command(
        type=command_type,
        command_id=str(envelope["id"]),
        referral_id=_text(envelope.get("subject")),
        data=envelope.get("data"),
        if_match=_text(envelope.get("ifmatch")),
        correlation_id=_text(envelope.get("correlationid")),
        # Trusted until the shell establishes the tenant from the topic (service.tenancy).
        tenant_id=_text(envelope.get("tenantid")),
        declared_tenant_id=_text(envelope.get("tenantid")),
        data_extent=extent,
    )
    if command.referral_id is None and command_type is not CommandType.CREATE:
        raise Undecodable("not-cloudevent", f"{command_type} needs the referral id as subject")
    return command


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def encode_event(
    event: ReferralEvent,
    topic: str,
    source: str,
    structured: bool,
    trace: Iterable[tuple[str, str]] = (),
) -> OutgoingRecord:
    attributes = {
        "id": event.event_id,
        "type": event.type.value,
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
    return _cloudevent(topic, event.referral_id, attributes, payload, structured)


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
    return _cloudevent(topic, referral_id, attributes, payload, structured)


def _cloudevent(
    topic: str, key: str, attributes: Mapping[str, str | None], data: Any, structured: bool
) -> OutgoingRecord:
    present = {name: value for name, value in attributes.items() if value is not None}
    kind = present["type"]
    if structured:
        envelope = {"specversion": SPEC_VERSION, **present, "datacontenttype": "application/json"}
        value = dumps({**envelope, "data": data})
        structured_headers = (("content-type", STRUCTURED_CONTENT_TYPE.encode()),)
        return OutgoingRecord(topic, key.encode(), value, structured_headers, kind)
    headers = (
        _SPEC_VERSION_HEADER,
        *[(_ce_header(name), value.encode()) for name, value in present.items()],
        JSON_CONTENT_TYPE_HEADER,
    )
    return OutgoingRecord(topic, key.encode(), dumps(data), headers, kind)


def _ce_header(attribute: str) -> str:
    return _CE_HEADERS.get(attribute) or f"ce_{attribute}"


#: The binary-mode header of each attribute an outcome carries (one string, not one a record).
_CE_HEADERS: Final = {
    name: f"ce_{name}"
    for name in ("id", "type", "source", "subject", "time", "dataschema", "causationid",
                 "correlationid", "tenantid", "traceparent", "tracestate")
}  # fmt: skip


def command_envelope(
    command_type: str,
    command_id: str,
    source: str,
    subject: str | None = None,
    data: Any = None,
    **extensions: str | None,
) -> dict[str, Any]:
    """A command's structured envelope; an empty subject, data or extension is left out."""
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
    headers: tuple[tuple[str, bytes], ...]


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
    if _is_structured(headers):
        return dict(body) if isinstance(body, Mapping) else {}
    attributes: dict[str, Any] = {
        name[3:]: raw.decode(errors="replace") for name, raw in headers if name.startswith("ce_")
    }
    attributes["data"] = body
    return attributes
