"""JSON Schemas of what the service reads and writes, generated from the models.

Command ``data`` shapes come from ``state.commands.DATA_SHAPES`` (the Referral model, the
JSON Patch operation, the lifecycle move data); event and rejection values from the
TypedDicts the codec builds them with. Every schema has a short machine ``title``
(``CreateReferralCommand``, ``ReferralEvent``) that code generators turn into a class
name, and keeps its prose in ``description``. The self-contained documents carry an
``$id``, which emitted records name as their CloudEvents ``dataschema``.
"""

from typing import Any, Final

from pydantic import TypeAdapter

from service.codec import (
    EVENT_SCHEMA_ID,
    JSON_CONTENT_TYPE_HEADER,
    REJECTED_TYPE,
    REJECTION_SCHEMA_ID,
    SCHEMA_ID_PREFIX,
    SPEC_VERSION,
    STRUCTURED_CONTENT_TYPE,
)
from service.payloads import EventPayload, RejectionPayload
from state import CommandType, EventType, Referral
from state.commands import DATA_SHAPES

JSON_SCHEMA: Final = "https://json-schema.org/draft/2020-12/schema"
EVENT_TITLE: Final = "ReferralEvent"
REJECTION_TITLE: Final = "ReferralCommandRejected"
EVENT_DESCRIPTION: Final = (
    "The value of a referral event record (binary mode) or its data (structured mode); the"
    " CloudEvents type says which: " + ", ".join(t.value for t in EventType) + "."
)
REJECTION_DESCRIPTION: Final = f"The value of a {REJECTED_TYPE} record: why a command was refused."
_EXTENSIONS: Final = {
    "ifmatch": "Expected eTag of the referral; a mismatch is refused as preconditionFailed.",
    "correlationid": "Copied to the events the command causes.",
    "tenantid": (
        "Owning organization. On a tenant's own topic (multi-tenant mode) it may be left out"
        " and must name that topic's tenant (else accessDenied); on the shared commands topic"
        " it is taken as sent: there it is a label, not a security boundary. Referral and"
        " command ids are scoped per tenant."
    ),
}
_SIGNATURE: Final = (
    "Multi-tenant mode: the proof an expiry on the shared commands topic needs to act as the"
    " tenant its tenantid names (else accessDenied): hex HMAC-SHA256, under the service's"
    " expiry secret, of its id, subject, tenantid and ifmatch. The service's scheduler and"
    " `referrals expire` sign; a tenant's own topic needs none."
)
_TRACING: Final = {
    "traceparent": "W3C Trace Context of the producer (CloudEvents distributed tracing"
    " extension); the service's spans and the records it emits continue that trace.",
    "tracestate": "W3C Trace Context vendor state, carried with traceparent.",
}
_OUTPUT_EXTENSIONS: Final = {
    "dataschema": "The $id of the JSON Schema of the value.",
    "causationid": "The id of the command that caused the record.",
    "correlationid": "The correlation id of that command, when it had one.",
    "tenantid": "The tenant the referral belongs to, when it has one.",
    **_TRACING,
}

Schema = dict[str, Any]


def title_of(command_type: CommandType) -> str:
    """``CreateReferralCommand`` for referral.create."""
    return f"{command_type.value.removeprefix('referral.').capitalize()}ReferralCommand"


def shape_schema(shape: Any, ref_template: str) -> tuple[Schema, Schema]:
    """A shape's JSON Schema and the definitions it refers to."""
    schema = TypeAdapter(shape).json_schema(by_alias=True, ref_template=ref_template)
    return schema, schema.pop("$defs", {})


def named(schema: Schema, title: str, description: str | None = None) -> Schema:
    """The schema with a machine title (and prose, when given) in front."""
    prose = {"description": description} if description else {}
    rest = {k: v for k, v in schema.items() if k not in ("title", "description")}
    return {"title": title, **prose, **rest}


def event_value(ref_template: str) -> tuple[Schema, Schema]:
    """The event value's schema (its snapshot a Referral) and its definitions."""
    event, defs = shape_schema(EventPayload, ref_template)
    event["properties"]["referral"] = {"$ref": ref_template.format(model="Referral")}
    referral, referral_defs = shape_schema(Referral, ref_template)
    return named(event, EVENT_TITLE, EVENT_DESCRIPTION), defs | referral_defs | {
        "Referral": referral
    }


def rejection_value(ref_template: str) -> tuple[Schema, Schema]:
    rejection, defs = shape_schema(RejectionPayload, ref_template)
    return named(rejection, REJECTION_TITLE, REJECTION_DESCRIPTION), defs


def command_envelope_schema(command_type: CommandType, data: Schema) -> Schema:
    """A command as a structured CloudEvent (the record's whole value)."""
    properties: Schema = {
        **_attributes(command_type),
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {
            "type": "string",
            "description": "JSON: application/json or a +json type; a charset, if any, utf-8",
        },
        "data": data,
    }
    description = f"A {command_type.value} command in structured mode: the whole CloudEvent."
    return {
        "title": title_of(command_type),
        "description": description,
        "type": "object",
        "required": _required(command_type),
        "properties": properties,
    }


def command_headers(command_type: CommandType) -> Schema:
    """A command's headers in binary mode (``ce_*``; the value is the ``data``)."""
    attributes = {f"ce_{name}": schema for name, schema in _attributes(command_type).items()}
    return {
        "title": f"{title_of(command_type)}Headers",
        "description": f"The headers of a {command_type.value} command in binary mode.",
        "type": "object",
        "required": [f"ce_{name}" for name in _required(command_type)],
        "properties": {
            **attributes,
            "ce_time": {"type": "string", "format": "date-time"},
            JSON_CONTENT_TYPE_HEADER[0]: {"const": JSON_CONTENT_TYPE_HEADER[1].decode()},
        },
    }


def output_envelope(title: str, kind: str, data_ref: str) -> Schema:
    """A structured record the service emits: the CloudEvent with its value as ``data``."""
    return {
        "title": f"{title}CloudEvent",
        "description": f"A {kind} in structured mode: the whole CloudEvent.",
        "type": "object",
        "required": ["specversion", "id", "type", "source", "subject", "time", "data"],
        "properties": {
            "specversion": {"const": SPEC_VERSION},
            **{name: {"type": "string"} for name in ("id", "type", "source", "subject")},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": JSON_CONTENT_TYPE_HEADER[1].decode()},
            **{name: _text(text) for name, text in _OUTPUT_EXTENSIONS.items()},
            "data": {"$ref": data_ref},
        },
    }


def output_headers(title: str, kind: str, structured: bool) -> Schema:
    """The headers of a record the service emits, in the event mode in force."""
    if structured:
        content_type = {"content-type": {"const": STRUCTURED_CONTENT_TYPE}}
        return {"title": f"{title}Headers", "type": "object", "properties": content_type}
    names = ("specversion", "id", "type", "source", "subject", "time")
    return {
        "title": f"{title}Headers",
        "description": f"The headers of a {kind} in binary mode (the value is plain JSON).",
        "type": "object",
        "required": [f"ce_{name}" for name in names],
        "properties": {
            **{f"ce_{name}": {"type": "string"} for name in names},
            **{f"ce_{name}": _text(text) for name, text in _OUTPUT_EXTENSIONS.items()},
            JSON_CONTENT_TYPE_HEADER[0]: {"const": JSON_CONTENT_TYPE_HEADER[1].decode()},
        },
    }


def json_schemas() -> dict[str, Schema]:
    """One self-contained JSON Schema per command envelope, event value and rejection value."""
    template = "#/$defs/{model}"
    schemas: dict[str, Schema] = {}
    for command_type, shape in DATA_SHAPES.items():
        data, defs = shape_schema(shape, template)
        envelope = command_envelope_schema(command_type, data)
        schemas[command_type.value] = _document(
            SCHEMA_ID_PREFIX + command_type.value, envelope, defs
        )
    event, defs = event_value(template)
    schemas["referral.event"] = _document(EVENT_SCHEMA_ID, event, defs)
    rejection, defs = rejection_value(template)
    schemas[REJECTED_TYPE] = _document(REJECTION_SCHEMA_ID, rejection, defs)
    return schemas


def _document(schema_id: str, schema: Schema, defs: Schema) -> Schema:
    document = {"$schema": JSON_SCHEMA, "$id": schema_id, **schema}
    if defs:
        document["$defs"] = defs
    return document


def _attributes(command_type: CommandType) -> Schema:
    return {
        "specversion": {"const": SPEC_VERSION},
        "id": {"type": "string", "minLength": 1, "description": "Idempotency key."},
        "type": {"const": command_type.value},
        "source": {"type": "string", "minLength": 1},
        "subject": {"type": "string", "minLength": 1, "description": "The referral id."},
        **{name: _text(text) for name, text in {**_EXTENSIONS, **_TRACING}.items()},
        **({"expirysignature": _text(_SIGNATURE)} if command_type is CommandType.EXPIRE else {}),
    }


def _required(command_type: CommandType) -> list[str]:
    required = ["specversion", "id", "type", "source"]
    return required if command_type is CommandType.CREATE else [*required, "subject"]


def _text(description: str) -> Schema:
    return {"type": "string", "description": description}
