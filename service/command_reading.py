"""Reading a command record: CloudEvents 1.0 in either mode of its Kafka binding, strictly.

A record that is not a command raises ``Undecodable`` with a ``DeadLetterCode``. What two
readers could read differently is refused rather than guessed: a ``ce_*`` or
``content-type`` header given twice, an attribute named in another case than its
lower-case CloudEvents name (``ifMatch``, ``CE_ID``: ignoring it would drop what it says),
a key named twice in one JSON object, and data declared as anything but JSON. The codec
re-exports what is public here.
"""

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from service.dead_letter_codes import DeadLetterCode
from service.jsonio import DuplicateKey, JsonRefused, loads
from state import Command, CommandType
from state.commands import TextExtent
from state.limits import identifier_problem

SPEC_VERSION: Final = "1.0"
STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
#: Every attribute the service reads or writes, by its CloudEvents (lower-case) name.
KNOWN_ATTRIBUTES: Final = frozenset(
    {"specversion", "id", "type", "source", "subject", "time", "datacontenttype", "dataschema",
     "data", "data_base64", "ifmatch", "correlationid", "tenantid", "causationid",
     "traceparent", "tracestate", "expirysignature"}
)  # fmt: skip
_COMMAND_TYPES: Final = {member.value: member for member in CommandType}
#: Attributes that are stored or used as keys; a string of the service's shape or absent.
_IDENTIFYING_ATTRIBUTES: Final = (
    "id", "subject", "tenantid", "correlationid", "ifmatch", "expirysignature",
)  # fmt: skip
_MESSAGE_LENGTH: Final = 500

Headers = Sequence[tuple[str, bytes | None]]
_PLAIN_JSON: Final = frozenset({"application/json", b"application/json"})
#: The W3C trace context a producer sent with a command (traceparent, tracestate).
TraceContext = tuple[tuple[str, str], ...]
_TRACE_FIELDS: Final = ("traceparent", "tracestate")


class Undecodable(Exception):
    """A record that is not a command at all; it goes to the dead-letter topic."""

    def __init__(self, code: str, message: str) -> None:
        """``code`` is a ``DeadLetterCode`` (a str, so the code's text is accepted too)."""
        super().__init__(message)
        self.code = code
        self.message = message[:_MESSAGE_LENGTH]


@dataclass(frozen=True, slots=True)
class WireLimits:
    """What a record must respect to be read as a command at all."""

    max_bytes: int = 1_048_576
    max_attribute_length: int = 256


def decode_command(value: bytes | None, headers: Headers, limits: WireLimits) -> Command:
    """Read one command record; raises Undecodable when it cannot be a command."""
    return read_command(value, headers, limits)[0]


def read_command(
    value: bytes | None, headers: Headers, limits: WireLimits
) -> tuple[Command, TraceContext]:
    """Read one command record and the trace context its producer sent with it (the
    distributed-tracing attributes of its mode, else plain ``traceparent`` headers, as
    Kafka instrumentations write them); raises Undecodable when it cannot be a command.

    The ``content-type`` header decides the mode, as the Kafka binding says: structured
    for ``application/cloudevents*`` (any ``ce_*`` headers beside it are ignored), else
    binary when ``ce_specversion`` is present, else a structured envelope without the header.
    """
    if value is not None and len(value) > limits.max_bytes:
        raise Undecodable(
            DeadLetterCode.TOO_LARGE,
            f"record of {len(value)} bytes exceeds {limits.max_bytes} bytes",
        )
    scanned = _Scanned.of(headers)
    content_type = scanned.content_type()
    structured = _is_structured_type(content_type)
    attributes = {} if structured else scanned.ce_attributes()
    if "specversion" in attributes:
        _refuse_non_json(content_type, "the content-type header")
        envelope: dict[str, Any] = {**attributes, "data": _json(value) if value else None}
        text = value
    else:
        envelope, text = _structured(value)
    _refuse_non_json(envelope.get("datacontenttype"), "datacontenttype")
    command = _command(envelope, limits, TextExtent.of(text) if text else None)
    traced = _trace_context(envelope) or (scanned.traced and plain_trace_context(headers))
    return command, traced or ()


class _Scanned:
    """A record's headers read in one pass, each name lower-cased once: the content-type
    values, the ``ce_*`` headers, and whether a plain trace header is among them."""

    __slots__ = ("ce", "content_types", "traced")

    def __init__(self) -> None:
        self.content_types: list[bytes | None] = []
        self.ce: list[tuple[str, str, bytes | None]] = []
        self.traced = False

    @classmethod
    def of(cls, headers: Headers) -> "_Scanned":
        scanned = cls()
        for name, raw in headers:
            lowered = name.lower()
            if lowered == "content-type":
                scanned.content_types.append(raw)
            elif lowered.startswith("ce_"):
                scanned.ce.append((name, lowered, raw))
            elif lowered == "traceparent":
                scanned.traced = True
        return scanned

    def content_type(self) -> bytes | None:
        if len(self.content_types) > 1:
            raise Undecodable(DeadLetterCode.DUPLICATE_ATTRIBUTE, "header content-type given twice")
        return self.content_types[0] if self.content_types else None

    def ce_attributes(self) -> dict[str, str]:
        """The CloudEvents attributes of binary mode, strictly (see the module docstring)."""
        for name, lowered, _ in self.ce:
            if name != lowered and lowered[3:] in KNOWN_ATTRIBUTES:
                raise Undecodable(
                    DeadLetterCode.MISSPELLED_ATTRIBUTE,
                    f"header {name[:64]!r} is spelled {lowered[:64]!r} (names are lower-case)",
                )
        attributes: dict[str, str] = {}
        seen: set[str] = set()
        for name, _, raw in self.ce:
            if name in seen:
                raise Undecodable(DeadLetterCode.DUPLICATE_ATTRIBUTE, f"header {name[:64]!r} twice")
            seen.add(name)
            if raw is not None and name.startswith("ce_"):
                attributes[name[3:]] = _header_text(name, raw)
        return attributes


def _trace_context(attributes: Mapping[str, Any]) -> TraceContext:
    if "traceparent" not in attributes:
        return ()  # the common case
    found = tuple(
        (name, attributes[name]) for name in _TRACE_FIELDS if isinstance(attributes.get(name), str)
    )
    return found if found and found[0][0] == "traceparent" else ()


def plain_trace_context(headers: Headers) -> TraceContext:
    """``traceparent``/``tracestate`` as plain headers (not CloudEvents attributes)."""
    if not any(name.lower() == "traceparent" for name, _ in headers):
        return ()  # the common case, at the cost of one pass
    plain = {name.lower(): raw for name, raw in headers if raw}
    return _trace_context({k: plain[k].decode("latin-1") for k in _TRACE_FIELDS if k in plain})


def is_structured(headers: Headers) -> bool:
    """Whether the record's content-type says structured mode."""
    for name, raw in headers:
        if name.lower() == "content-type" and raw is not None:
            return _is_structured_type(raw)
    return False


def _is_structured_type(content_type: bytes | None) -> bool:
    return content_type is not None and content_type.strip().lower().startswith(
        b"application/cloudevents"
    )


def _header_text(name: str, raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise Undecodable(
            DeadLetterCode.NOT_CLOUDEVENT, f"header {name[:64]!r} is not UTF-8"
        ) from None


def is_json_media_type(media_type: str) -> bool:
    """``application/json`` or any ``+json`` type, with parameters; a charset, if given,
    is UTF-8 (the only encoding JSON is read in)."""
    essence, *parameters = media_type.split(";")
    kind, _, subtype = essence.strip().lower().partition("/")
    if not (kind and ((subtype == "json" and kind == "application") or subtype.endswith("+json"))):
        return False
    for parameter in parameters:
        name, _, given = parameter.partition("=")
        if name.strip().lower() == "charset" and given.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


def _refuse_non_json(declared: object, where: str) -> None:
    if declared is None or declared in _PLAIN_JSON:
        return  # the common cases, without parsing the media type
    if isinstance(declared, bytes):
        declared = declared.decode("utf-8", "replace")
    if not (isinstance(declared, str) and is_json_media_type(declared)):
        raise Undecodable(
            DeadLetterCode.UNSUPPORTED_CONTENT_TYPE,
            f"{where} is {str(declared)[:64]!r}; commands carry JSON data",
        )


def _structured(value: bytes | None) -> tuple[dict[str, Any], bytes | None]:
    """The envelope, and the text its data was read from (the value, or data_base64's)."""
    parsed = _json(value)
    if not isinstance(parsed, Mapping) or "specversion" not in parsed:
        raise Undecodable(
            DeadLetterCode.NOT_CLOUDEVENT,
            "neither ce_* headers nor a structured CloudEvents envelope",
        )
    _refuse_misspellings(parsed, "attribute")
    envelope, text = dict(parsed), value
    if "data_base64" in envelope and "data" not in envelope:
        encoded = envelope["data_base64"]
        try:
            text = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise Undecodable(DeadLetterCode.NOT_JSON, "data_base64 is not base64") from None
        envelope["data"] = _json(text)
    return envelope, text


def _refuse_misspellings(names: Iterable[str], what: str) -> None:
    for name in names:
        if name in KNOWN_ATTRIBUTES:
            continue  # the common case, without lower-casing
        lowered = name.lower()
        if name != lowered and lowered in KNOWN_ATTRIBUTES:
            raise Undecodable(
                DeadLetterCode.MISSPELLED_ATTRIBUTE,
                f"{what} {name[:64]!r} is spelled {lowered[:64]!r} (names are lower-case)",
            )


def _json(value: bytes | None) -> Any:
    if value is None:
        raise Undecodable(DeadLetterCode.NOT_JSON, "the record has no value")
    try:
        return loads(value, unique_keys=True)
    except DuplicateKey as error:
        raise Undecodable(DeadLetterCode.DUPLICATE_KEY, f"value is {error}") from None
    except JsonRefused as error:
        raise Undecodable(DeadLetterCode.NOT_JSON, f"value is {error}") from None


def _command(envelope: Mapping[str, Any], limits: WireLimits, extent: TextExtent | None) -> Command:
    if envelope.get("specversion") != SPEC_VERSION:
        raise Undecodable(DeadLetterCode.NOT_CLOUDEVENT, "specversion is not 1.0")
    missing = [name for name in ("id", "type", "source") if not _text(envelope.get(name))]
    if missing:
        raise Undecodable(
            DeadLetterCode.NOT_CLOUDEVENT, f"missing CloudEvents attributes: {', '.join(missing)}"
        )
    command_type = _COMMAND_TYPES.get(str(envelope["type"]))
    if command_type is None:
        known = ", ".join(_COMMAND_TYPES)
        raise Undecodable(DeadLetterCode.UNKNOWN_TYPE, f"type is not one of {known}")
    for name in _IDENTIFYING_ATTRIBUTES:
        problem = identifier_problem(envelope.get(name), limits.max_attribute_length)
        if problem is not None:
            raise Undecodable(DeadLetterCode.INVALID_ATTRIBUTE, f"attribute {name} {problem}")
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
        expiry_signature=_text(envelope.get("expirysignature")),
        data_extent=extent,
    )
    if command.referral_id is None and command_type is not CommandType.CREATE:
        raise Undecodable(
            DeadLetterCode.NOT_CLOUDEVENT, f"{command_type} needs the referral id as subject"
        )
    return command


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
