"""Streams of command records for deciding both ways (``two_paths``): every kind of command,
the near misses of the canonical form, and streams entirely in it. Hypothesis strategies.

Longer than a module should be: most of it is tables of values, one per line as the
formatter writes them, which read best beside the strategies that draw from them.
"""

import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from bench.workload import referral_document
from service.codec import command_envelope, command_record
from service.fast.leaves import LEAVES
from service.kafka import PolledRecord
from service.tenancy import Tenancy
from state.stamping import etag_of

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
TENANCY = Tenancy({"commands-a": "org-a"})
REFERRALS = ("r-1", "r-2")
#: The topic each referral's commands come from and the tenant they act as.
HOMES = {"r-1": ("commands", None), "r-2": ("commands-a", "org-a")}
TOPICS = ("commands", "commands-a")
MOVES = ("referral.accept", "referral.decline", "referral.win", "referral.lose", "referral.expire")

timestamps = st.sampled_from(
    [
        "2026-12-31T00:00:00Z",
        "2026-12-31T00:00:00.5Z",
        "2026-12-31T00:00:00.1234567Z",
        "2026-12-31T00:00:00.123Z",
        "2026-02-30T00:00:00Z",
        "2026-12-31t00:00:00z",
        "2026-12-31T00:00:00+00:00",
        "0001-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-12-31T24:00:00Z",
        "2026-12-31T00:00:00.12345678Z",
        " 2026-12-31T00:00:00Z",
        "2026-12-31T00:00:00Z\n",
        "1-01-01T00:00:00Z",
    ]
)
amounts = st.one_of(
    st.integers(-5, 2**63 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**12),
    st.sampled_from(
        [
            Decimal("1E+3"),
            Decimal("0.0000001"),
            Decimal("-0"),
            Decimal("12.50"),
            Decimal("1" * 29),
            Decimal("1" * 30),
            Decimal("0." + "1" * 29),
            "10000",
            "12.5",
            "-1",
            "1e3",
            True,
            None,
        ]
    ),
)
texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "Call notes",
            "tab\there",
            "line\nfeed",
            "nul\x00",
            "bell\x07",
            "é ü",
            "😀",
            "x" * 200,
            "a/b~c",
        ]
    ),
)
#: Text a producer writes without escapes (beyond quotes and backslashes).
plain_texts = st.text(
    st.characters(
        min_codepoint=32,
        max_codepoint=0x2FF,
        exclude_characters=[chr(c) for c in range(0x7F, 0xA0)],
    ),
    max_size=12,
)
enum_values = st.sampled_from(
    [
        "New",
        "Active",
        "Closed",
        "new",
        "ACTIVE",
        "None",
        "Pending",
        "Received",
        "Accepted",
        "Won",
        "Lost",
        "Declined",
        "Expired",
        "won",
        "Shared",
        "Independent",
        "SalesQualified",
        "Direct",
        "US",
        "us",
        "DE",
        "ZZ",
        "USD",
        "usd",
        "EUR",
        "ANG",
        "1to50employees",
        "1TO50EMPLOYEES",
        "",
        " ",
        "SolutionProfile",
    ]
)
emails = st.sampled_from(
    ["a@b.example", "A@B.EXAMPLE", "not-an-email", "a@b.c\n", "a b@c.d", "x" * 160 + "@b.example"]
)
leaf_values = st.one_of(texts, enum_values, timestamps, amounts, emails, st.booleans(), st.none())
BASE = referral_document(random.Random(7), 1)


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """A referral document: the bench's, mutated in a few places."""
    document: dict[str, Any] = json.loads(json.dumps(BASE, default=str))
    document["details"]["dealValue"] = Decimal(document["details"]["dealValue"])
    for _ in range(draw(st.integers(0, 3))):
        path = draw(
            st.sampled_from(
                [
                    *LEAVES,
                    "/id",
                    "/eTag",
                    "/version",
                    "/createdDateTime",
                    "/Name",
                    "/unknownField",
                    "/team",
                    "/customerProfile/ids",
                    "/target",
                    "/details/requirements/solutions",
                    "/customerProfile/team/0/email",
                ]
            )
        )
        value = draw(
            st.sampled_from(
                [
                    [{"id": "sp-1", "type": "SolutionProfile"}],
                    {"id": "sp-1", "type": "SolutionProfile"},
                    [{"profileType": "duns", "id": "1"}],
                    [{"solutionType": "Category", "name": "BigData"}],
                ]
            )
            | leaf_values
        )
        node = document
        keys = path.strip("/").split("/")
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[int(key)]
            if not isinstance(node, (dict, list)):
                break
        else:
            if isinstance(node, dict):
                node[keys[-1]] = value
            elif isinstance(node, list) and node:
                node[0] = value
    if draw(st.booleans()):
        document.pop(draw(st.sampled_from(sorted(document))), None)
    return document


#: Values a leaf may well take, beside any value at all.
LEAF_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "/status": st.sampled_from(["New", "Active", "Closed", "closed", None]),
    "/substatus": st.sampled_from(
        ["Pending", "Received", "Accepted", "Won", "Lost", "Declined", "Expired", "won", None]
    ),
    "/type": st.sampled_from(["Shared", "Independent", "shared"]),
    "/qualification": st.sampled_from(["Direct", "SalesQualified", "MarketingQualified"]),
    "/customerProfile/address/country": st.sampled_from(["US", "DE", "us", "ZZ"]),
    "/customerProfile/size": st.sampled_from(["1to50employees", "", " ", "1TO50employees"]),
    "/details/currency": st.sampled_from(["USD", "EUR", "usd", "ANG"]),
    "/details/dealValue": amounts,
    "/consent/consentToContact": st.booleans(),
    "/consent/consentToToShareInfoWithOthers": st.booleans(),
    "/expirationDateTime": timestamps,
    "/details/closingDateTime": timestamps,
    "/engagementId": st.sampled_from(["e-1", "x" * 151, "tab\tid"]),
}


@st.composite
def well_formed_operations(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(st.sampled_from(sorted(LEAVES)))
    value = draw(LEAF_VALUES.get(path, plain_texts))
    return {"op": draw(st.sampled_from(["add", "replace"])), "path": path, "value": value}


def patches(draw: st.DrawFn) -> Any:
    paths = st.sampled_from(
        [
            *LEAVES,
            "/eTag",
            "/id",
            "/version",
            "/Details/Notes",
            "/team/0/email",
            "/details/requirements",
            "/unknown",
            "",
            "no-slash",
            "/details/notes/x",
            "/a~1b",
            "/createdDateTime",
        ]
    )
    operation = st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "replace", "remove", "ADD"]),
            "path": paths,
            "value": leaf_values,
        }
    )
    if draw(st.integers(0, 3)):
        return draw(st.lists(well_formed_operations(), min_size=1, max_size=3))
    return draw(
        st.lists(well_formed_operations() | operation, min_size=0, max_size=3)
        | st.just({"op": "add"})
    )


def move_data(draw: st.DrawFn) -> Any:
    return draw(
        st.sampled_from(
            [
                None,
                {"statusReason": "Signed"},
                {"StatusReason": "x"},
                {"statusReason": None},
                {},
                [],
                "x",
                {"other": 1},
                {"statusReason": "nul\x00"},
                {"statusReason": 5},
            ]
        )
    )


@st.composite
def commands(draw: st.DrawFn, number: int) -> PolledRecord:
    kind = draw(
        st.sampled_from(
            ["referral.create", "referral.patch", "referral.replace", *MOVES, "referral.bogus"]
        )
    )
    referral_id = draw(st.sampled_from(REFERRALS))
    if kind in ("referral.create", "referral.replace"):
        data = draw(documents())
    elif kind == "referral.patch":
        data = patches(draw)
    else:
        data = move_data(draw)
    if draw(st.integers(0, 4)):  # mostly as the referral's home topic and tenant say
        topic, tenant = HOMES[referral_id]
    else:
        topic, tenant = (
            draw(st.sampled_from(TOPICS)),
            draw(st.sampled_from([None, "org-a", "org-b"])),
        )
    version = draw(st.integers(1, 4))
    if_match = draw(
        st.sampled_from(
            [
                None,
                None,
                None,
                "*",
                etag_of(referral_id, version, tenant),
                f"W/{etag_of(referral_id, version, None)}",
                '"stale"',
            ]
        )
    )
    command_id = draw(st.sampled_from([f"c-{number}", "c-0", "c-1"]))
    extensions = {
        "ifmatch": if_match,
        "tenantid": tenant,
        "correlationid": draw(st.sampled_from([None, "corr-1"])),
        "traceparent": draw(
            st.sampled_from([None, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
        ),
    }
    subject = draw(st.sampled_from([referral_id] * 8 + [None, ""]))
    envelope = command_envelope(kind, command_id, "urn:test", subject, data, **extensions)
    record = command_record(envelope, structured=draw(st.booleans()))
    value, headers = record.value, list(record.headers)
    value = draw(near_misses(value))
    headers = draw(odd_headers(headers))
    return PolledRecord(topic, 0, number, 0, record.key, value, headers)


@st.composite
def near_misses(draw: st.DrawFn, value: bytes | None) -> bytes | None:
    """The value as written, or a near miss of its canonical form."""
    if value is None:
        return value
    miss = draw(st.sampled_from(["none"] * 16 + ["spaces", "escape", "twice", "ascii"]))
    if miss == "spaces":
        return value.replace(b'":', b'": ', 1)
    if miss == "escape":
        return value.replace(b"a", b"\\u0061", 1)
    if miss == "twice" and value.startswith(b"{"):
        return b'{"id":"twice",' + value[1:]
    if miss == "ascii":
        return json.dumps(json.loads(value)).encode()
    return value


@st.composite
def odd_headers(
    draw: st.DrawFn, headers: list[tuple[str, bytes]]
) -> list[tuple[str, bytes | None]]:
    odd = draw(
        st.sampled_from(
            ["none"] * 16
            + ["upper", "twice", "plain-trace", "plain-trace"]
            + ["null", "extra", "plain-state", "plain-both", "empty-trace"]
        )
    )
    found: list[tuple[str, bytes | None]] = list(headers)
    if odd == "upper" and found:
        name, raw = found[0]
        found[0] = (name.upper(), raw)
    elif odd == "twice" and found:
        found.append(found[-1])
    elif odd == "plain-trace":
        name = draw(st.sampled_from(["traceparent", "TraceParent"]))
        found.append((name, b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
    elif odd == "plain-state":
        found.append(("tracestate", b"vendor=1"))
    elif odd == "plain-both":
        found += [("traceparent", b"00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                  ("tracestate", b"vendor=\xe9"), ("traceparent", b"00-2-last-01")]  # fmt: skip
    elif odd == "empty-trace":
        found += [("traceparent", b"00-3-first-01"), ("traceparent", b"")]
    elif odd == "null" and found:
        found.append((found[-1][0], None))
    elif odd == "extra":
        found.append(("x-producer", b"crm"))
    return found


@st.composite
def streams(draw: st.DrawFn) -> list[PolledRecord]:
    creates = [
        PolledRecord(topic, 0, index, 0, None, value, headers)
        for index, (topic, value, headers) in enumerate(draw(seed_creates()))
    ]
    size = draw(st.integers(1, 12))
    return creates + [draw(commands(len(creates) + n)) for n in range(size)]


@st.composite
def seed_creates(draw: st.DrawFn) -> list[tuple[str, bytes | None, list[tuple[str, bytes]]]]:
    """Canonical creates first, so that most later commands find their referral."""
    made = []
    for referral_id in REFERRALS:
        topic, tenant = HOMES[referral_id]
        envelope = command_envelope(
            "referral.create", f"seed-{referral_id}", "urn:test", referral_id, BASE, tenantid=tenant
        )
        record = command_record(envelope, structured=draw(st.booleans()))
        made.append((topic, record.value, list(record.headers)))
    return made


VALID_LEAF_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "/status": st.sampled_from(["New", "Active", "Closed"]),
    "/substatus": st.sampled_from(["Pending", "Received", "Accepted", "Won", "Lost", "Declined"]),
    "/type": st.sampled_from(["Shared", "Independent"]),
    "/qualification": st.sampled_from(["Direct", "SalesQualified", "None"]),
    "/customerProfile/address/country": st.sampled_from(["US", "DE", "JP"]),
    "/customerProfile/size": st.sampled_from(["1to50employees", ""]),
    "/details/currency": st.sampled_from(["USD", "EUR", None]),
    "/details/dealValue": st.integers(0, 2**63 - 1)
    | st.decimals(min_value=0, max_value=10**12, places=3),
    "/consent/consentToContact": st.booleans(),
    "/consent/consentToToShareInfoWithOthers": st.booleans(),
    "/expirationDateTime": st.sampled_from(
        ["2027-01-31T09:30:00Z", "0001-01-01T00:00:00.1234567Z", "2027-01-31T09:30:00.5Z"]
    ),
    "/details/closingDateTime": st.sampled_from(
        ["2027-01-31T09:30:00Z", "2027-01-31T09:30:00.25Z"]
    ),
    "/engagementId": st.sampled_from(["e-1", "E-2"]),
}
CANONICAL_LEAVES = sorted(path for path in LEAVES if not path.startswith("/inviteContext"))


def _in_base(path: str) -> bool:
    node: Any = BASE
    for key in path.strip("/").split("/"):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


@st.composite
def canonical_commands(draw: st.DrawFn, number: int) -> PolledRecord:
    """A command in the canonical form, of a referral created before it, as its tenant."""
    referral_id = draw(st.sampled_from(REFERRALS))
    kind = draw(st.sampled_from(["referral.patch", "referral.patch", *MOVES]))
    if kind == "referral.patch":
        paths = draw(st.lists(st.sampled_from(CANONICAL_LEAVES), min_size=1, max_size=3))
        data: Any = [
            {
                "op": draw(st.sampled_from(["add", "replace"])) if _in_base(path) else "add",
                "path": path,
                "value": draw(VALID_LEAF_VALUES.get(path, plain_texts)),
            }
            for path in paths
        ]
    else:
        data = draw(st.sampled_from([None, {"statusReason": "Reason"}, {}]))
    topic, tenant = HOMES[referral_id]
    envelope = command_envelope(
        kind,
        f"k-{number}",
        "urn:test",
        referral_id,
        data,
        tenantid=tenant,
        ifmatch=draw(st.sampled_from([None, "*"])),
    )
    record = command_record(envelope, structured=draw(st.booleans()))
    return PolledRecord(topic, 0, number, 0, record.key, record.value, list(record.headers))
