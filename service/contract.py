"""The contract on Kafka, generated from the models: an AsyncAPI 3.0.0 document (3.1.0 on request).

It describes the configured servers and topics, every command in both CloudEvents modes
(structured: the envelope as the value; binary: ``ce_*`` headers and ``data`` as the
value), and the events and rejections in the event mode in force
(``REFERRALS_EVENT_MODE``). Schemas come from ``service.schemas``; every message and schema
has a machine name, so generated clients get readable class names.

The document uses only what AsyncAPI 3.0.0 defines: 3.1.0 adds ROS 2 bindings, message
examples of any type and AsyncAPI 3.0.0 as a schema format, none of which it needs, so the
two versions differ only in the ``asyncapi`` field. 3.0.0 is the default because generators
such as Modelina read no later version.
"""

from typing import Any, Final

from service import dead_letters
from service.codec import JSON_CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE
from service.schemas import (
    EVENT_TITLE,
    REJECTION_TITLE,
    Schema,
    command_envelope_schema,
    command_headers,
    event_value,
    json_schemas,
    output_envelope,
    output_headers,
    rejection_value,
    shape_schema,
    title_of,
)
from service.settings import EventMode, SaslMechanism, SecurityProtocol, Settings
from service.version import package_version
from state import CommandType
from state.commands import DATA_SHAPES

ASYNCAPI_VERSIONS: Final = ("3.0.0", "3.1.0")
ASYNCAPI_VERSION: Final = ASYNCAPI_VERSIONS[0]
_JSON: Final = JSON_CONTENT_TYPE_HEADER[1].decode()
_SCHEMAS: Final = "#/components/schemas/"
_SASL: Final = {
    SaslMechanism.PLAIN: "plain",
    SaslMechanism.SCRAM_SHA_256: "scramSha256",
    SaslMechanism.SCRAM_SHA_512: "scramSha512",
}

_OUTPUT_MESSAGES: Final = {EVENT_TITLE: "referralEvent", REJECTION_TITLE: "commandRejected"}

__all__ = ["ASYNCAPI_VERSION", "ASYNCAPI_VERSIONS", "asyncapi", "json_schemas"]


def asyncapi(settings: Settings, version: str = ASYNCAPI_VERSION) -> dict[str, Any]:
    """The AsyncAPI document of the service's servers, topics and messages."""
    if version not in ASYNCAPI_VERSIONS:
        raise ValueError(
            f"AsyncAPI {version} is not offered; one of {', '.join(ASYNCAPI_VERSIONS)}"
        )
    structured = settings.event_mode is EventMode.STRUCTURED
    schemas: Schema = {}
    command_messages = _commands(schemas)
    messages = {
        **command_messages,
        "referralEvent": _output(schemas, EVENT_TITLE, "referral event", event_value, structured),
        "commandRejected": _output(
            schemas, REJECTION_TITLE, "rejection", rejection_value, structured
        ),
        "deadLetter": _dead_letter(schemas),
    }
    channels = {
        "commands": _channel(settings.commands_topic, list(command_messages)),
        "events": _channel(settings.events_topic, ["referralEvent"]),
        "rejections": _channel(settings.rejections_topic, ["commandRejected"]),
        "deadLetters": _channel(settings.dlq_topic, ["deadLetter"]),
    }
    mode = "structured" if structured else "binary"
    return {
        "asyncapi": version,
        "info": {
            "title": "Referral lifecycle service",
            "version": package_version(),
            "description": "Commands in, domain events, rejections and dead letters out."
            " CloudEvents 1.0 over the Kafka protocol binding; the message key is the"
            f" referral id. Commands in either mode; events and rejections in {mode} mode.",
        },
        "servers": {"kafka": _server(settings)},
        "channels": channels,
        "operations": {
            "consumeCommands": _operation("receive", "commands", channels),
            "publishEvents": _operation("send", "events", channels),
            "publishRejections": _operation("send", "rejections", channels),
            "publishDeadLetters": _operation("send", "deadLetters", channels),
        },
        "components": {"messages": messages, "schemas": schemas},
    }


def _commands(schemas: Schema) -> dict[str, Any]:
    """Each command twice: as a structured CloudEvent and in binary mode."""
    messages: dict[str, Any] = {}
    for command_type, shape in DATA_SHAPES.items():
        data, defs = shape_schema(shape, _SCHEMAS + "{model}")
        title = title_of(command_type)
        # A model (Referral) is shared under its own name; other shapes are named per command.
        data_name = data.get("title") or f"{title}Data"
        schemas |= defs | {data_name: {**data, "title": data_name}}
        schemas[title] = command_envelope_schema(command_type, _ref(data_name))
        schemas[f"{title}Headers"] = command_headers(command_type)
        name = _message_name(command_type)
        messages[f"{name}Structured"] = {
            "name": f"{name}Structured",
            "title": f"{command_type.value} (structured mode)",
            "contentType": STRUCTURED_CONTENT_TYPE,
            "headers": _content_type_header(STRUCTURED_CONTENT_TYPE),
            "payload": _ref(title),
            "bindings": _key_binding(),
        }
        messages[f"{name}Binary"] = {
            "name": f"{name}Binary",
            "title": f"{command_type.value} (binary mode)",
            "contentType": _JSON,
            "headers": _ref(f"{title}Headers"),
            "payload": _ref(data_name),
            "bindings": _key_binding(),
        }
    return messages


def _output(schemas: Schema, title: str, kind: str, value: Any, structured: bool) -> dict[str, Any]:
    """An emitted record's message in the event mode in force."""
    schema, defs = value(_SCHEMAS + "{model}")
    schemas |= defs | {title: schema}
    schemas[f"{title}Headers"] = output_headers(title, kind, structured)
    message: dict[str, Any] = {
        "name": _OUTPUT_MESSAGES[title],
        "title": title,
        "summary": schema["description"],
        "headers": _ref(f"{title}Headers"),
        "bindings": _key_binding(),
    }
    if structured:
        schemas[f"{title}CloudEvent"] = output_envelope(title, kind, _SCHEMAS + title)
        return {
            **message,
            "contentType": STRUCTURED_CONTENT_TYPE,
            "payload": _ref(f"{title}CloudEvent"),
        }
    return {**message, "contentType": _JSON, "payload": _ref(title)}


def _dead_letter(schemas: Schema) -> dict[str, Any]:
    schemas["DeadLetterHeaders"] = {
        "title": "DeadLetterHeaders",
        "description": "The original record's headers, byte for byte, and why and where from.",
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
    }
    # Named, though it is any bytes, so that generators give its model a name too.
    schemas["DeadLetterValue"] = {
        "title": "DeadLetterValue",
        "description": "The original record's value, byte for byte.",
    }
    return {
        "name": "deadLetter",
        "title": "DeadLetter",
        "summary": "A record the service could not take, byte for byte (cut to fit the record"
        " size limit, and then marked x-truncated), with x-error-* and x-original-* headers.",
        "headers": _ref("DeadLetterHeaders"),
        "payload": _ref("DeadLetterValue"),
    }


def _server(settings: Settings) -> dict[str, Any]:
    hosts = [host.strip() for host in settings.kafka_bootstrap_servers.split(",")]
    secure = settings.kafka_security_protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)
    server: dict[str, Any] = {
        "host": hosts[0],
        "protocol": "kafka-secure" if secure else "kafka",
        "description": "Bootstrap servers: " + ", ".join(hosts),
    }
    if settings.kafka_sasl_mechanism is not None:
        server["security"] = [{"type": _SASL[settings.kafka_sasl_mechanism]}]
    return server


def _message_name(command_type: CommandType) -> str:
    return f"{command_type.value.removeprefix('referral.')}Referral"


def _ref(schema: str) -> dict[str, str]:
    return {"$ref": _SCHEMAS + schema}


def _content_type_header(content_type: str) -> Schema:
    return {
        "type": "object",
        "required": ["content-type"],
        "properties": {"content-type": {"const": content_type}},
    }


def _channel(topic: str, messages: list[str]) -> dict[str, Any]:
    return {
        "address": topic,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
        "bindings": {"kafka": {"topic": topic}},
    }


def _operation(action: str, channel: str, channels: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [
            {"$ref": f"#/channels/{channel}/messages/{name}"}
            for name in channels[channel]["messages"]
        ],
    }


def _key_binding() -> dict[str, Any]:
    return {"kafka": {"key": {"type": "string", "description": "The referral id."}}}
