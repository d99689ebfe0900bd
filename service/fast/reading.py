"""Reading a command record in the canonical form, without building its data in Python.

A record is read here when it is a command as the service's own producers and most others
write one: structured (``content-type: application/cloudevents+json``, or none) or binary
(lower-case ``ce_*`` headers, each once, ``content-type: application/json``), with only the
attributes the service knows, a subject, JSON without ``\\u`` escapes and in its shortest
form (see ``command_data.canonical``), and a tenant the topic or the attribute establishes
(an expiry on the shared topic proves its tenant: ``service.tenancy``, not here). The data
is kept as the text it came as, to be decoded by the decision for the kind of command.
Anything else returns None, and ``service.command_reading`` reads the record, strictly,
with the refusals and their messages: both readers agree on every record this one takes
(``tests/unit/test_fast_path.py``).
"""

from typing import Final

import msgspec
from msgspec import UNSET, UnsetType

from service.command_reading import STRUCTURED_CONTENT_TYPE, TraceContext, WireLimits
from service.fast.command_data import canonical
from service.tenancy import Tenancy
from state import Command, CommandType
from state.commands import json_escape
from state.limits import identifiers_fit

_COMMAND_TYPES: Final = {member.value: member for member in CommandType}
_STRUCTURED: Final = STRUCTURED_CONTENT_TYPE.encode()
_JSON: Final = b"application/json"
_TRACE_HEADERS: Final = frozenset({"traceparent", "tracestate"})


class Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The attributes of a command the service knows, and its data as text."""

    specversion: str
    id: str
    type: str
    source: str
    subject: str | UnsetType = UNSET
    time: str | UnsetType = UNSET
    datacontenttype: str | UnsetType = UNSET
    dataschema: str | UnsetType = UNSET
    data: msgspec.Raw | UnsetType = UNSET
    ifmatch: str | UnsetType = UNSET
    correlationid: str | UnsetType = UNSET
    tenantid: str | UnsetType = UNSET
    causationid: str | UnsetType = UNSET
    traceparent: str | UnsetType = UNSET
    tracestate: str | UnsetType = UNSET
    expirysignature: str | UnsetType = UNSET


_ENVELOPE: Final = msgspec.json.Decoder(Envelope).decode
_FIELDS: Final = frozenset(Envelope.__struct_fields__) - {"data"}
_NULL: Final = b"null"


class FastRead(msgspec.Struct, gc=False):
    """A command read in the canonical form: the command (its data left out), the data's
    text (None when there is none) and the trace context its producer sent."""

    command: Command
    data: bytes | None
    trace: TraceContext


def read_fast(
    value: bytes | None,
    headers: tuple[tuple[str, bytes | None], ...],
    topic: str,
    limits: WireLimits,
    tenancy: Tenancy,
) -> FastRead | None:
    """The command in the canonical form, or None: the strict reader must read it."""
    if value is not None and (len(value) > limits.max_bytes or _escapes_unicode(value)):
        return None
    scanned = _scan(headers)
    if scanned is None:
        return None
    content_type, ce, plain_trace = scanned
    if content_type == _STRUCTURED or not ce:
        if content_type not in (None, _STRUCTURED, _JSON) or value is None:
            return None
        envelope = _structured(value)
    elif content_type in (None, _JSON):
        envelope = _binary(value, ce)
    else:
        return None
    if envelope is None:
        return None
    return _read(envelope, topic, limits, tenancy, plain_trace)


#: A ``\\u`` escape (an escaped backslash before a ``u`` is none).
_escapes_unicode: Final = json_escape(rb"u")


def _scan(
    headers: tuple[tuple[str, bytes | None], ...],
) -> tuple[bytes | None, dict[str, bytes], dict[str, bytes]] | None:
    """The content-type, the ``ce_*`` headers and the plain trace headers (by lower-case
    name, the last one given that is not empty, as the strict reader keeps them), or None
    where the strict reader's reading matters (a name in another case, a header twice)."""
    content_type: bytes | None = None
    ce: dict[str, bytes] = {}
    plain_trace: dict[str, bytes] = {}
    for name, raw in headers:
        if name == "content-type":
            if content_type is not None or raw is None:
                return None
            content_type = raw
        elif name.startswith("ce_"):
            if raw is None or name in ce:
                return None
            ce[name] = raw
        else:
            lowered = name.lower()
            if lowered in _TRACE_HEADERS:
                if raw:
                    plain_trace[lowered] = raw
            elif lowered == "content-type" or lowered.startswith("ce_"):
                return None
    return content_type, ce, plain_trace


def _structured(value: bytes) -> Envelope | None:
    try:
        envelope = _ENVELOPE(value)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    return envelope if canonical(envelope, value) else None


def _binary(value: bytes | None, ce: dict[str, bytes]) -> Envelope | None:
    try:
        attributes = {name[3:]: raw.decode() for name, raw in ce.items()}
    except UnicodeDecodeError:
        return None
    if not _FIELDS.issuperset(attributes):
        return None
    try:
        envelope = Envelope(**attributes)  # type: ignore[arg-type]  # required ones checked
    except TypeError:
        return None
    if value:
        envelope.data = msgspec.Raw(value)
    return envelope


def _read(
    envelope: Envelope,
    topic: str,
    limits: WireLimits,
    tenancy: Tenancy,
    plain_trace: dict[str, bytes],
) -> FastRead | None:
    kind = _COMMAND_TYPES.get(envelope.type)
    command_id, subject = envelope.id, envelope.subject
    if (
        kind is None
        or envelope.specversion != "1.0"
        or not (command_id and envelope.source and subject)
        or envelope.datacontenttype not in (UNSET, "application/json")
    ):
        return None
    assert isinstance(subject, str)  # a non-empty one, just checked
    declared, correlation_id = envelope.tenantid, envelope.correlationid
    if_match, signature = envelope.ifmatch, envelope.expirysignature
    identifying = [command_id, subject]
    # An attribute given is a non-empty identifier; absent (UNSET) it is None below.
    for given in (declared, correlation_id, if_match, signature):
        if isinstance(given, str):
            if not given:
                return None
            identifying.append(given)
    if not identifiers_fit(identifying, limits.max_attribute_length):
        return None
    declared_tenant = declared if isinstance(declared, str) else None
    tenant = tenancy.topic_tenants.get(topic)
    if tenant is None:
        if tenancy.topic_tenants and kind is CommandType.EXPIRE and declared_tenant is not None:
            return None  # the strict reader checks its proof
        tenant = declared_tenant
    command = Command(
        type=kind,
        command_id=command_id,
        referral_id=subject,
        if_match=if_match if isinstance(if_match, str) else None,
        correlation_id=correlation_id if isinstance(correlation_id, str) else None,
        tenant_id=tenant,
        declared_tenant_id=declared_tenant,
        expiry_signature=signature if isinstance(signature, str) else None,
    )
    data = envelope.data
    text = None if data is UNSET else bytes(data)
    return FastRead(command, None if text == _NULL else text, _trace(envelope, plain_trace))


def _trace(envelope: Envelope, plain: dict[str, bytes]) -> TraceContext:
    """The producer's trace context: the envelope's attributes, else plain headers (as
    ``service.command_reading`` reads them)."""
    parent, state = envelope.traceparent, envelope.tracestate
    if not isinstance(parent, str):
        if "traceparent" not in plain:
            return ()
        parent = plain["traceparent"].decode("latin-1")
        state = plain["tracestate"].decode("latin-1") if "tracestate" in plain else UNSET
    if isinstance(state, str):
        return (("traceparent", parent), ("tracestate", state))
    return (("traceparent", parent),)
