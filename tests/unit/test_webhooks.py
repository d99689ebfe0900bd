"""The pure parts of webhooks: which events notify, the payload, the signature, the backoff,
the test-event limit, and which target addresses are refused (every unsafe family, IPv4 and
IPv6, IPv4-mapped included)."""

import asyncio
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.webhooks.routes import ValidationEventLimit
from service.codec import OutgoingRecord
from service.jsonio import loads
from service.webhooks.dispatcher import backoff
from service.webhooks.notices import Notice, body, notices_of
from service.webhooks.signing import signature, verify
from service.webhooks.targets import TargetPolicy, UnsafeTarget, address_problem, checked

STRICT = TargetPolicy()
TIME = b"2026-12-06T10:00:00.0000000Z"


def record(
    kind: str, headers: tuple[tuple[str, bytes | None], ...], value: bytes = b"{}"
) -> OutgoingRecord:
    return OutgoingRecord("events", b"r1", value, headers, kind)


def test_creation_is_created_every_other_event_updated_and_the_rest_nothing() -> None:
    headers = (("ce_tenantid", b"org-a"), ("ce_time", TIME))
    records = [record(kind, headers) for kind in ("referral.created", "referral.won",
               "referral.command.rejected", "dead-letter", "referral.expire")]  # fmt: skip
    assert notices_of(records, "now") == [
        Notice("org-a", "r1", "referral-created", TIME.decode()),
        Notice("org-a", "r1", "referral-updated", TIME.decode()),
    ]


def test_a_structured_event_is_read_from_its_value_and_a_tenantless_one_is_empty() -> None:
    structured = record("referral.updated", (("content-type", b"x"),),
                        b'{"time":"2026-01-01T00:00:00Z","tenantid":"org-b"}')  # fmt: skip
    tenantless = record("referral.updated", (("ce_time", TIME),))
    assert [(n.tenant, n.changed_at) for n in notices_of([structured, tenantless], "now")] == [
        ("org-b", "2026-01-01T00:00:00Z"),
        ("", TIME.decode()),
    ]


_EVENT_KINDS = ("referral.created", "referral.updated", "referral.won", "dead-letter")
_HEADER_NAMES = ("ce_tenantid", "ce_time", "content-type", "x-other")


@settings(derandomize=True, max_examples=300)
@given(
    kind=st.sampled_from(_EVENT_KINDS),
    key=st.none() | st.binary(max_size=40),
    value=st.none() | st.binary(max_size=60) | st.just(b'{"time":5,"tenantid":["x"]}'),
    headers=st.lists(
        st.tuples(st.sampled_from(_HEADER_NAMES), st.none() | st.binary(max_size=20)),
        max_size=4,
    ),
)
def test_whatever_a_stored_record_holds_its_notices_are_read_without_failing(
    kind: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes | None]]
) -> None:
    """The store computes notices inside the batch's write: no key, header or value may make
    that write fail. An event whose referral or tenant cannot be read as text notifies
    nobody rather than the wrong tenant."""
    found = notices_of([OutgoingRecord("events", key, value, tuple(headers), kind)], "now")
    assert len(found) <= 1
    for notice in found:
        assert key is not None
        assert notice.referral_id.encode() == key
        tenants = [v for n, v in headers if n == "ce_tenantid" and v is not None]
        assert notice.tenant.encode() == (tenants[-1] if tenants else notice.tenant.encode())


def test_a_key_or_tenant_that_is_not_utf8_notifies_nobody() -> None:
    bad_key = OutgoingRecord("events", b"\xdb\xff", b"{}", (("ce_time", TIME),), "referral.won")
    bad_tenant = record("referral.won", (("ce_tenantid", b"\xff"), ("ce_time", TIME)))
    assert notices_of([bad_key, bad_tenant], "now") == []


def test_the_payload_is_partner_centers_thin_notification() -> None:
    sent = loads(body("referral-updated", "https://x.example/api", "a/b", TIME.decode()))
    assert sent == {
        "EventName": "referral-updated",
        "ResourceUri": "https://x.example/api/v1.0/engagements/referrals/a%2Fb",
        "ResourceName": "referral",
        "AuditUri": None,
        "ResourceChangeUtcDate": "2026-12-06T10:00:00.0000000+00:00",
    }


def test_a_signature_verifies_only_with_its_secret_body_and_a_recent_time() -> None:
    header = signature("s3cret", 1_000_000, b"{}")
    assert verify("s3cret", header, b"{}", now=1_000_100)
    assert not verify("other", header, b"{}", now=1_000_100)
    assert not verify("s3cret", header, b"{ }", now=1_000_100)
    assert not verify("s3cret", header, b"{}", now=1_000_000 + 301)  # replayed later
    assert not verify("s3cret", "v1=00", b"{}", now=1_000_000)


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0, max_value=0.999))
def test_backoff_is_full_jitter_under_an_exponential_cap(attempts: int, draw: float) -> None:
    delay = backoff(attempts, 0.5, 60.0, lambda: draw)
    assert 0 <= delay <= min(60.0, 0.5 * 2 ** (attempts - 1))
    assert backoff(attempts, 0.5, 60.0, lambda: 0.999) >= backoff(1, 0.5, 60.0, lambda: 0.999)


def test_test_events_are_limited_per_tenant_per_minute() -> None:
    now = [0.0]
    limit = ValidationEventLimit(2, clock=lambda: now[0])
    assert [limit.wait_for("a"), limit.wait_for("a"), limit.wait_for("b")] == [0, 0, 0]
    assert limit.wait_for("a") > 0
    now[0] = 60.0
    assert limit.wait_for("a") == 0


UNSAFE_NETWORKS = [
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "::1/128", "fe80::/10",
    "fc00::/7", "ff00::/8", "::/128",
]  # fmt: skip


@given(st.sampled_from(UNSAFE_NETWORKS), st.integers(min_value=0), st.booleans())
def test_every_address_of_an_unsafe_family_is_refused(
    network: str, pick: int, mapped: bool
) -> None:
    net = ipaddress.ip_network(network)
    address = net[pick % net.num_addresses]
    if mapped and address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    assert address_problem(address) is not None


@pytest.mark.parametrize("public", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_a_public_address_is_accepted(public: str) -> None:
    assert address_problem(ipaddress.ip_address(public)) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://93.184.215.14/h", "must use https"),
        ("https://user:pw@93.184.215.14/h", "credentials"),
        ("https://127.0.0.1/h", "loopback"),
        ("https://[::ffff:10.0.0.1]/h", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://localhost/h", "loopback"),
        ("ftp://93.184.215.14/h", "must use https"),
        ("https:///h", "no host"),
    ],
)
def test_an_unsafe_url_is_refused_naming_why(url: str, why: str) -> None:
    with pytest.raises(UnsafeTarget, match=why):
        asyncio.run(checked(url, STRICT))


def test_private_targets_and_http_pass_where_the_settings_allow_them() -> None:
    parts, address = asyncio.run(checked("http://127.0.0.1:9/h", TargetPolicy(True, True)))
    assert (parts.port, str(address)) == (9, "127.0.0.1")
