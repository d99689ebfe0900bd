"""The contract on Kafka, generated from the models: JSON Schemas and an AsyncAPI document.

Command ``data`` shapes come from ``state.commands.DATA_SHAPES`` (the Referral model, the
JSON Patch operation, the lifecycle move data); event and rejection values from the
TypedDicts the codec builds them with. Nothing here is written by hand twice.
"""

from typing import Any, Final

from pydantic import TypeAdapter

from service import dead_letters
from service.codec import REJECTED_TYPE, SPEC_VERSION
from service.payloads import EventPayload, RejectionPayload
from service.settings import Settings
from state import CommandType, EventType, Referral
from state.commands import DATA_SHAPES

JSON_SCHEMA: Final = "https://json-schema.org/draft/2020-12/schema"
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


def _schema(shape: Any, ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A shape's JSON Schema and the definitions it refers to."""
    schema = TypeAdapter(shape).json_schema(by_alias=True, ref_template=ref_template)
    return schema, schema.pop("$defs", {})


def _with_referral(payload: dict[str, Any], ref_template: str) -> dict[str, Any]:
    payload["properties"]["referral"] = {"$ref": ref_template.format(model="Referral")}
    return payload


def _envelope(command_type: CommandType, data: dict[str, Any]) -> dict[str, Any]:
    required = ["specversion", "id", "type", "source"]
    if command_type is not CommandType.CREATE:
        required.append("subject")
    properties: dict[str, Any] = {
        "specversion": {"const": SPEC_VERSION},
        "id": {"type": "string", "minLength": 1, "description": "Idempotency key."},
        "type": {"const": command_type.value},
        "source": {"type": "string", "minLength": 1},
        "subject": {"type": "string", "minLength": 1, "description": "The referral id."},
        "time": {"type": "string"},
        "datacontenttype": {"type": "string"},
        **{name: {"type": "string", "description": text} for name, text in _EXTENSIONS.items()},
        "data": data,
    }
    return {"type": "object", "required": required, "properties": properties}


def json_schemas() -> dict[str, dict[str, Any]]:
    """One self-contained JSON Schema per command envelope, event value and rejection value."""
    template = "#/$defs/{model}"
    schemas: dict[str, dict[str, Any]] = {}
    for command_type, shape in DATA_SHAPES.items():
        data, defs = _schema(shape, template)
        schemas[command_type.value] = _document(
            f"{command_type.value} command (structured CloudEvent)",
            _envelope(command_type, data),
            defs,
        )
    event, defs = _schema(EventPayload, template)
    referral, referral_defs = _schema(Referral, template)
    defs |= referral_defs | {"Referral": referral}
    schemas["referral.event"] = _document(
        "referral event value (" + ", ".join(t.value for t in EventType) + ")",
        _with_referral(event, template),
        defs,
    )
    rejection, defs = _schema(RejectionPayload, template)
    schemas[REJECTED_TYPE] = _document(f"{REJECTED_TYPE} value", rejection, defs)
    return schemas


def _document(title: str, schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    document = {"$schema": JSON_SCHEMA, **schema, "title": title}
    if defs:
        document["$defs"] = defs
    return document


def asyncapi(settings: Settings) -> dict[str, Any]:
    """An AsyncAPI 3.0 document of the service's topics and messages."""
    template = "#/components/schemas/{model}"
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for command_type, shape in DATA_SHAPES.items():
        data, defs = _schema(shape, template)
        schemas |= defs
        name = _message_name(command_type.value)
        messages[name] = {
            "name": command_type.value,
            "contentType": "application/cloudevents+json",
            "payload": _envelope(command_type, data),
            "bindings": _key_binding(),
        }
    referral, defs = _schema(Referral, template)
    schemas |= defs | {"Referral": referral}
    event, defs = _schema(EventPayload, template)
    schemas |= defs
    messages["referralEvent"] = {
        "name": "referral event",
        "summary": "One of: " + ", ".join(t.value for t in EventType) + " (header ce_type).",
        "contentType": "application/json",
        "headers": _ce_headers(),
        "payload": _with_referral(event, template),
        "bindings": _key_binding(),
    }
    rejection, defs = _schema(RejectionPayload, template)
    schemas |= defs
    messages["commandRejected"] = {
        "name": REJECTED_TYPE,
        "contentType": "application/json",
        "headers": _ce_headers(),
        "payload": rejection,
        "bindings": _key_binding(),
    }
    messages["deadLetter"] = {
        "name": "dead letter",
        "summary": "A record the service could not take, byte for byte (cut to fit the record"
        " size limit, and then marked x-truncated), with x-error-* and x-original-* headers.",
        "headers": {
            "type": "object",
            "properties": {
                **{name: {"type": "string"} for name in dead_letters.HEADERS},
                dead_letters.ERROR_CODE: {
                    "type": "string",
                    "enum": list(dead_letters.ERROR_CODES),
                    "description": "; ".join(
                        f"{code}: {meaning}" for code, meaning in dead_letters.ERROR_CODES.items()
                    ),
                },
            },
            "required": [
                dead_letters.ERROR_CODE,
                dead_letters.ERROR_MESSAGE,
                dead_letters.ORIGINAL_TOPIC,
            ],
        },
        "payload": {},
    }
    command_refs = {name: {"$ref": f"#/components/messages/{name}"} for name in messages
                    if name not in ("referralEvent", "commandRejected", "deadLetter")}  # fmt: skip
    channels = {
        "commands": _channel(settings.commands_topic, command_refs),
        "events": _channel(settings.events_topic, _refs("referralEvent")),
        "rejections": _channel(settings.rejections_topic, _refs("commandRejected")),
        "deadLetters": _channel(settings.dlq_topic, _refs("deadLetter")),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Referral lifecycle service",
            "version": "0.1.0",
            "description": "Commands in, domain events, rejections and dead letters out. "
            "CloudEvents 1.0 over the Kafka protocol binding; the message key is the referral id.",
        },
        "channels": channels,
        "operations": {
            "consumeCommands": _operation("receive", "commands", command_refs),
            "publishEvents": _operation("send", "events", _refs("referralEvent")),
            "publishRejections": _operation("send", "rejections", _refs("commandRejected")),
            "publishDeadLetters": _operation("send", "deadLetters", _refs("deadLetter")),
        },
        "components": {"messages": messages, "schemas": schemas},
    }


def _message_name(command_type: str) -> str:
    verb = command_type.removeprefix("referral.")
    return f"{verb}Referral"


def _refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/messages/{name}"} for name in names}


def _channel(topic: str, messages: dict[str, Any]) -> dict[str, Any]:
    return {"address": topic, "messages": messages, "bindings": {"kafka": {"topic": topic}}}


def _operation(action: str, channel: str, messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in messages],
    }


def _key_binding() -> dict[str, Any]:
    return {"kafka": {"key": {"type": "string", "description": "The referral id."}}}


def _ce_headers() -> dict[str, Any]:
    names = ("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_subject", "ce_time",
             "ce_causationid", "ce_correlationid", "ce_tenantid")  # fmt: skip
    return {
        "type": "object",
        "required": list(names[:6]),
        "properties": {name: {"type": "string"} for name in names},
    }
