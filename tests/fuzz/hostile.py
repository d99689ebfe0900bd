# ruff: noqa: E501  (tables of hostile literals read best one record per line)
"""Hostile command records, by family, as hypothesis strategies.

Each strategy yields ``(value, headers)`` as a Kafka record would carry them. The families:
random bytes; truncated and mutated valid commands; nesting at many depths in the
envelope, in documents and in patch values; huge and odd numbers; invalid UTF-8 and lone
surrogates; duplicate keys; wrong types in every field; odd ``ce_*`` headers; odd JSON
Patch paths; odd dates and enum spellings; oversized strings, arrays and documents; envelope
attributes in another case and ``ce_*`` or ``content-type`` headers given twice, in
either mode.
"""

import json
from typing import Any

from hypothesis import strategies as st

from service.jsonio import dumps

REFERRAL_ID = "ref-fuzz-1"
STRUCTURED = [("content-type", b"application/cloudevents+json")]
Record = tuple[bytes | None, list[tuple[str, bytes]]]

COMMAND_TYPES = (
    "referral.create",
    "referral.patch",
    "referral.replace",
    "referral.accept",
    "referral.decline",
    "referral.win",
    "referral.lose",
    "referral.expire",
)

BASE_DOCUMENT: dict[str, Any] = {
    "name": "Contoso migration",
    "type": "Independent",
    "qualification": "SalesQualified",
    "customerProfile": {
        "name": "Contoso",
        "address": {"city": "Redmond", "country": "US"},
        "team": [{"firstName": "Ana", "email": "ana@contoso.example"}],
        "ids": {"duns": "123"},
    },
    "details": {
        "dealValue": 1250.5,
        "currency": "USD",
        "requirements": {"products": [{"id": "Azure"}]},
    },
    "team": [{"firstName": "Bo", "email": "bo@fabrikam.example"}],
    "target": [{"type": "SolutionProfile", "id": "sp-1"}],
}


def envelope(
    kind: str, data: Any, subject: str | None = REFERRAL_ID, **extra: Any
) -> dict[str, Any]:
    value: dict[str, Any] = {"specversion": "1.0", "id": "cmd-1", "type": kind, "source": "urn:f"}
    if subject is not None:
        value["subject"] = subject
    if data is not None:
        value["data"] = data
    value.update(extra)
    return value


def structured(value: dict[str, Any]) -> Record:
    return dumps(value), list(STRUCTURED)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def deep_text(depth: int) -> bytes:
    """Nesting written as text, so no Python structure of that depth is ever built."""
    return b"[" * depth + b"1" + b"]" * depth


depths = st.sampled_from(
    [1, 10, 40, 63, 64, 65, 100, 200, 255, 256, 257, 500, 1000, 1023, 1025, 5000, 50_000]
)

valid_commands = st.one_of(
    st.just(envelope("referral.create", BASE_DOCUMENT)),
    st.just(envelope("referral.patch", [{"op": "replace", "path": "/name", "value": "x"}])),
    st.just(envelope("referral.replace", BASE_DOCUMENT, ifmatch="*")),
    st.sampled_from(COMMAND_TYPES[3:]).map(lambda kind: envelope(kind, {"statusReason": "r"})),
)


@st.composite
def truncated_or_mutated(draw: st.DrawFn) -> Record:
    raw = bytearray(dumps(draw(valid_commands)))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(raw) - 1, 0)))
        raw[position : position + 1] = draw(st.binary(min_size=0, max_size=3))
    return bytes(raw), list(STRUCTURED)


@st.composite
def deep_nesting(draw: st.DrawFn) -> Record:
    depth = draw(depths)
    where = draw(st.sampled_from(["envelope", "data", "document", "patch", "binary"]))
    if where == "envelope":
        raw = (
            b'{"specversion":"1.0","id":"x","type":"referral.create","source":"u","x":'
            + deep_text(depth)
            + b"}"
        )
        return raw, list(STRUCTURED)
    if where == "data":
        raw = (
            b'{"specversion":"1.0","id":"x","type":"referral.create","source":"u","data":'
            + deep_text(depth)
            + b"}"
        )
        return raw, []
    if where == "binary":
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", b"x"),
            ("ce_type", b"referral.create"),
            ("ce_source", b"u"),
        ]
        return deep_text(depth), headers
    head = b'{"specversion":"1.0","id":"x","source":"u","subject":"%s",' % REFERRAL_ID.encode()
    if where == "document":
        return head + b'"type":"referral.create","data":{"name":"n","extra":' + deep_text(
            depth
        ) + b"}}", []
    path = draw(st.sampled_from([b"/extra", b"/customerProfile/extra", b"/team/0/x"]))
    operation = b'[{"op":"add","path":"' + path + b'","value":' + deep_text(depth) + b"}]"
    return head + b'"type":"referral.patch","data":' + operation + b"}", []


odd_numbers = st.sampled_from(
    [b"1e308", b"1e309", b"-1e400", b"1e-400", b"-0", b"0.0000000000000000000001",
     b"123456789012345678901234567890", b"18446744073709551616", b"9" * 400, b"1" * 5000,
     b"1.5e99999", b"-1", b"1E+2", b"0x10", b"NaN", b"Infinity", b"00012", b"1." , b".5"]
)  # fmt: skip


@st.composite
def odd_number_in_place(draw: st.DrawFn) -> Record:
    number = draw(odd_numbers)
    template = draw(st.sampled_from([
        b'{"specversion":"1.0","id":"x","type":"referral.create","source":"u","subject":"r","data":{"details":{"dealValue":%s}}}',
        b'{"specversion":"1.0","id":"x","type":"referral.patch","source":"u","subject":"' + REFERRAL_ID.encode() + b'","data":[{"op":"replace","path":"/details/dealValue","value":%s}]}',
        b'{"specversion":"1.0","id":%s,"type":"referral.accept","source":"u","subject":"r"}',
        b'{"specversion":"1.0","id":"x","type":"referral.create","source":"u","data":{"version":%s,"name":%s}}',
    ]))  # fmt: skip
    return template.replace(b"%s", number), list(STRUCTURED)


bad_text = st.sampled_from(
    [b'"\\ud800"', b'"\\udfff x"', b'"\xed\xa0\x80"', b'"\xff\xfe"', b'"\xc0\xaf"', b'"a\\u0000b"',
     b'"\\u001f"', b'"\xf4\x90\x80\x80"', b'"' + "é".encode("latin-1") + b'"', b'"\\uD83D\\uDE00"']
)  # fmt: skip


@st.composite
def bad_unicode(draw: st.DrawFn) -> Record:
    text = draw(bad_text)
    attribute = draw(
        st.sampled_from(["subject", "id", "tenantid", "correlationid", "ifmatch", "type", "name"])
    )
    if attribute == "name":
        raw = b'{"specversion":"1.0","id":"x","type":"referral.create","source":"u","data":{"name":%s,"customerProfile":{"team":[{"email":%s}]}}}'
        return raw.replace(b"%s", text), list(STRUCTURED)
    fields = {
        "specversion": b'"1.0"',
        "id": b'"x"',
        "type": b'"referral.accept"',
        "source": b'"u"',
        "subject": b'"r"',
    }
    fields[attribute] = text
    raw = b"{" + b",".join(b'"%s":%s' % (k.encode(), v) for k, v in fields.items()) + b"}"
    if draw(st.booleans()):
        headers = [(f"ce_{k}", v.strip(b'"').replace(b"\\", b"")) for k, v in fields.items()]
        return b"{}", headers
    return raw, list(STRUCTURED)


@st.composite
def duplicate_keys(draw: st.DrawFn) -> Record:
    raw = draw(st.sampled_from([
        b'{"specversion":"1.0","id":"a","id":"b","type":"referral.accept","source":"u","subject":"r"}',
        b'{"specversion":"1.0","id":"a","type":"referral.create","type":"referral.win","source":"u","subject":"r"}',
        b'{"specversion":"1.0","id":"a","type":"referral.create","source":"u","data":{"status":"New","status":"Closed","substatus":"Won"}}',
        b'{"specversion":"1.0","id":"a","type":"referral.create","source":"u","data":{"id":"x","ID":"y","Id":"z"}}',
        b'{"specversion":"1.0","specversion":"0.3","id":"a","type":"referral.accept","source":"u","subject":"r"}',
    ]))  # fmt: skip
    return raw, list(STRUCTURED)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def wrong_types(draw: st.DrawFn) -> Record:
    command = json.loads(json.dumps(draw(valid_commands)))
    path = draw(st.sampled_from(_paths(command)[1:]))
    parent = command
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = draw(json_values)
    return structured(command)


header_values = st.one_of(
    st.binary(max_size=12), st.sampled_from([b"", b"1.0", b"referral.create", b"\xff", b"\x00"])
)


@st.composite
def odd_headers(draw: st.DrawFn) -> Record:
    names = [
        "ce_specversion",
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_subject",
        "ce_tenantid",
        "ce_ifmatch",
        "content-type",
        "ce_",
    ]
    headers = [
        (name, draw(header_values)) for name in draw(st.lists(st.sampled_from(names), max_size=8))
    ]
    if draw(st.booleans()):
        headers += [("ce_specversion", b"1.0"), ("ce_id", b"h1"), ("ce_type", draw(st.sampled_from([t.encode() for t in COMMAND_TYPES]))), ("ce_source", b"u"), ("ce_subject", REFERRAL_ID.encode())]  # fmt: skip
    value = draw(
        st.one_of(st.none(), st.binary(max_size=20), st.just(dumps(BASE_DOCUMENT)), st.just(b"[]"))
    )
    return value, headers


odd_pointers = st.one_of(
    st.sampled_from(["", "/", "//", "~", "/~2", "/~", "/team/-", "/team/-/x", "/team/00", "/team/01", "/team/1e0",
                     "/team/99999999999999999999", "/team/-1", "/a~1b", "/ID", "/Status", "/status/x", "/eTag",
                     "/customerProfile/team/-", "/details/dealValue/x", "name", "/" + "a/" * 70, "/\u0000"]),
    st.text(max_size=12).map(lambda text: "/" + text),
)  # fmt: skip


@st.composite
def odd_patches(draw: st.DrawFn) -> Record:
    operations = [
        {"op": draw(st.sampled_from(["add", "replace", "remove", "copy", "test", "ADD", None])), "path": draw(odd_pointers), "value": draw(json_values)}
        for _ in range(draw(st.integers(0, 4)))
    ]  # fmt: skip
    if draw(st.booleans()):
        operations = operations * draw(st.sampled_from([1, 60, 101, 2000]))
    return structured(envelope("referral.patch", operations))


odd_dates = st.sampled_from(
    ["2026-02-30T00:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0999-12-31T23:59:59Z", "9999-12-31T23:59:59.9999999Z", "+275760-09-13T00:00:00Z",
     "2026-01-01", "2026-01-01T00:00:00+05:00", "2026-01-01T24:00:00Z", "2026-01-01T00:00:60Z", "yesterday", "",
     "2026-01-01T00:00:00.12345678Z", "2026-01-01t00:00:00z", "1", "2026-13-01T00:00:00Z"]
)  # fmt: skip
odd_enums = st.sampled_from(
    [
        "closed",
        "CLOSED",
        "ClOsEd",
        "Won",
        "won ",
        " New",
        "None",
        "",
        "Open",
        "Active\u0000",
        "İ",
        "ß",
    ]
)


@st.composite
def odd_dates_and_enums(draw: st.DrawFn) -> Record:
    document = json.loads(json.dumps(BASE_DOCUMENT))
    document[draw(st.sampled_from(["expirationDateTime", "createdDateTime", "closedDateTime"]))] = (
        draw(odd_dates)
    )
    document["details"]["closingDateTime"] = draw(odd_dates)
    document[draw(st.sampled_from(["status", "substatus", "type", "qualification"]))] = draw(
        odd_enums
    )
    kind = draw(st.sampled_from(["referral.create", "referral.replace"]))
    return structured(envelope(kind, document, ifmatch="*"))


@st.composite
def oversized(draw: st.DrawFn) -> Record:
    size = draw(st.sampled_from([100, 33_000, 300_000, 1_100_000]))
    where = draw(st.sampled_from(["string", "array", "object", "id", "subject", "document"]))
    if where == "string":
        return structured(envelope("referral.create", {**BASE_DOCUMENT, "name": "x" * size}))
    if where == "array":
        return structured(
            envelope("referral.create", {**BASE_DOCUMENT, "team": [{}] * min(size, 200_000)})
        )
    if where == "object":
        return structured(
            envelope(
                "referral.create",
                {**BASE_DOCUMENT, "x": {str(i): 1 for i in range(min(size, 100_000))}},
            )
        )
    if where == "id":
        return structured(
            envelope("referral.create", {**BASE_DOCUMENT, "id": "i" * size}, subject=None)
        )
    if where == "subject":
        return structured(envelope("referral.accept", None, subject="s" * size))
    notes = {"op": "add", "path": f"/notes{draw(st.integers(0, 9))}", "value": "n" * 30_000}
    return structured(envelope("referral.patch", [notes] * 20))


ENVELOPE_ATTRIBUTES = ("specversion", "id", "type", "source", "subject", "time", "datacontenttype",
                       "dataschema", "ifmatch", "correlationid", "tenantid", "traceparent")  # fmt: skip


@st.composite
def case_variant(draw: st.DrawFn, name: str) -> str:
    """``name`` with at least one letter in another case."""
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    varied = "".join(c.upper() if flip else c for c, flip in zip(name, flips, strict=True))
    return varied if varied != name else name[0].upper() + name[1:]


@st.composite
def misspelled_attributes(draw: st.DrawFn) -> Record:
    """A valid command with one attribute also (or only) named in another case, either mode."""
    command = dict(draw(valid_commands))
    attribute = draw(st.sampled_from(ENVELOPE_ATTRIBUTES))
    value = draw(st.sampled_from(["x", "*", "1.0", "referral.win", "application/json"]))
    variant = draw(case_variant(attribute))
    if draw(st.booleans()):
        command[variant] = value
        return structured(command)
    headers = [(f"ce_{k}", str(v).encode()) for k, v in command.items() if k != "data"]
    prefix = draw(st.sampled_from(["ce_", "Ce_", "CE_", "cE_"]))
    headers.insert(draw(st.integers(0, len(headers))), (prefix + variant, value.encode()))
    return dumps(command.get("data")), headers


@st.composite
def repeated_headers(draw: st.DrawFn) -> Record:
    """A valid command with a ce_* (binary) or content-type (either mode) header twice."""
    command = draw(valid_commands)
    if draw(st.booleans()):
        second = draw(st.sampled_from(["content-type", "Content-Type", "CONTENT-TYPE"]))
        return dumps(command), [
            *STRUCTURED,
            (second, draw(st.sampled_from([b"application/json", STRUCTURED[0][1]]))),
        ]
    headers = [(f"ce_{k}", str(v).encode()) for k, v in command.items() if k != "data"]
    name = draw(st.sampled_from([*[n for n, _ in headers], "ce_stray", "content-type"]))
    values = draw(
        st.lists(
            st.sampled_from([b"x", b"application/json", b"referral.win"]), min_size=2, max_size=3
        )
    )
    headers = [h for h in headers if h[0] != name] + [(name, v) for v in values]
    return dumps(command.get("data")), draw(st.permutations(headers))


hostile_records = st.one_of(
    st.tuples(st.binary(max_size=200), st.just([])),
    st.tuples(st.binary(max_size=200), st.just(list(STRUCTURED))),
    truncated_or_mutated(),
    deep_nesting(),
    odd_number_in_place(),
    bad_unicode(),
    duplicate_keys(),
    wrong_types(),
    odd_headers(),
    odd_patches(),
    odd_dates_and_enums(),
    oversized(),
    misspelled_attributes(),
    repeated_headers(),
)
