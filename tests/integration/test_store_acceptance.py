"""What the decision accepts, both stores hold: one acceptance for SQLite and PostgreSQL.

Hypothesis generates creates and patches of hostile values (control characters in every
string field, strings at and around the indexed-string limit in one- to four-byte
characters, deal values and timestamps in many spellings, pointer escapes), with tenants
and referral ids up to the longest the envelope allows. Every referral the decision
accepts is written through a real SQLite store and a real PostgreSQL store; both must take
it, read the same document back, and find it by its indexed fields.
"""

import asyncio
import contextlib
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.settings import Settings
from service.store import (
    BatchWrite,
    PostgresStore,
    ProcessedCommand,
    ReferralWrite,
    SqliteStore,
    Store,
)
from service.store.query import FIELDS, Comparison, ReferralQuery, TeamMember
from service.store.rows import referral_document
from state import Applied, Command, CommandType, ReferralRecord, decide
from state.limits import identifier_problem
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LIMITS = Settings().max_attribute_length, Settings().max_indexed_length
LONGEST_ID, LONGEST_INDEXED = LIMITS

#: Where a referral holds a string, by path (``#`` an index into an array of one object).
STRING_PLACES = (
    "name", "engagementId", "externalReferenceId", "direction", "statusReason",
    "customerProfile/name", "customerProfile/address/city", "customerProfile/team/#/lastName",
    "details/notes", "inviteContext/invitedBy/organizationName", "team/#/firstName",
    "target/#/id", "unknownField", "unknownObject/deeper",
)  # fmt: skip
WIDE = ("a", "é", "中", "\U0001f600", "\U0010fffd")

# Lone surrogates are left out: the JSON reader refuses them before any decision.
characters = st.characters(codec="utf-8")
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc",)), max_size=16)
controlled = st.builds(
    lambda before, code, after: f"{before}{chr(code)}{after}",
    plain_text,
    st.integers(0, 0x1F),
    plain_text,
)


def four_byte_text(seed: int, length: int) -> str:
    """Four-byte characters at random, which an index entry cannot compress."""
    pick = random.Random(seed)
    return "".join(chr(pick.randrange(0xF0000, 0xFFFFE)) for _ in range(length))


#: Strings at and around the limit: one character repeated, or incompressible ones.
around_limit = st.builds(
    lambda repeated, seed, length: repeated * length if repeated else four_byte_text(seed, length),
    st.sampled_from(["", *WIDE]),
    st.integers(0, 2**32),
    st.sampled_from([LONGEST_INDEXED - 1, LONGEST_INDEXED, LONGEST_INDEXED + 1, 700]),
)
hostile_text = st.one_of(plain_text, controlled, around_limit)
emails = st.builds(
    lambda local, domain: f"{local}@{domain}.example",
    st.one_of(st.text(st.sampled_from("abc.+\x00\t中\U0001f600"), min_size=1, max_size=8),
              around_limit),
    st.sampled_from(["contoso", "x\x00y", "b\nc"]),
)  # fmt: skip
deal_values = st.one_of(
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False),
    st.sampled_from(["10000", "0.50", "-0", " 5 ", "+5", ".5", "1e3", "1e999999999", "NaN"]),
    st.sampled_from(["9" * 29, "9" * 30, "0." + "1" * 28, "0." + "1" * 29]),
)
timestamps = st.sampled_from([
    "2027-01-31T09:30:00Z", "2027-01-31T09:30:00.1234567Z", "2027-01-31t09:30:00z",
    "2027-01-31T09:30:00Z\n", " 2027-01-31T09:30:00Z", "2027-01-31T09:30:00+00:00",
])  # fmt: skip
#: Tenants and ids the envelope lets through, up to the longest in four-byte characters.
identifiers = st.one_of(
    st.text(characters, min_size=1, max_size=24),
    st.builds(lambda c: c * LONGEST_ID, st.sampled_from(WIDE)),
).filter(lambda text: identifier_problem(text, LONGEST_ID) is None)


def _put(document: dict[str, Any], place: str, value: Any) -> None:
    node: Any = document
    parts = place.split("/")
    for part, following in itertools.pairwise(parts):
        if part == "#":
            continue
        node = node.setdefault(part, [{}])[0] if following == "#" else node.setdefault(part, {})
    node[parts[-1]] = value


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A document of plain strings with one hostile value of one family."""
    document: dict[str, Any] = {"name": "Contoso"}
    for place in draw(st.lists(st.sampled_from(STRING_PLACES), max_size=3, unique=True)):
        _put(document, place, draw(plain_text))
    family = draw(st.sampled_from(["plain", "control", "indexed", "email", "deal", "timestamp"]))
    if family == "plain":  # long text anywhere but the indexed fields is fine
        _put(document, draw(st.sampled_from(STRING_PLACES[4:])), draw(around_limit))
    elif family == "control":
        _put(document, draw(st.sampled_from(STRING_PLACES)), draw(controlled))
    elif family == "indexed":
        indexed = draw(st.sampled_from(["engagementId", "externalReferenceId", "direction"]))
        _put(document, indexed, draw(around_limit))
    elif family == "email":
        _put(document, "team/#/email", draw(emails))
    elif family == "deal":
        _put(document, "details/dealValue", draw(deal_values))
        _put(document, "details/currency", "USD")
    else:
        _put(document, "expirationDateTime", draw(timestamps))
    return document


@st.composite
def patches(draw: st.DrawFn) -> list[dict[str, Any]]:
    path = draw(
        st.sampled_from(["/name", "/externalReferenceId", "/direction", "/details/notes"])
        | st.builds(lambda escape: f"/odd{escape}key", st.sampled_from(["~0", "~1", "~2", "~"]))
    )
    value: Any = draw(hostile_text)
    if draw(st.booleans()):
        path, value = "/team/-", {"email": draw(emails)}
    return [{"op": "add", "path": path, "value": value}]


class BothStores:
    """A SQLite store and a PostgreSQL store, written and read in step."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stores: tuple[Store, Store]) -> None:
        self.loop, self.stores = loop, stores
        self.taken = 0

    def write(self, record: ReferralRecord, expected_version: int, command: Command) -> None:
        processed = ProcessedCommand(command.command_id, record.referral_id, "applied",
                                     record.tenant_id)  # fmt: skip
        batch = BatchWrite(
            referrals=[ReferralWrite(record, expected_version)], processed=[processed]
        )
        for store in self.stores:
            self.loop.run_until_complete(store.write(batch))
        self.taken += 1

    def read_back(self, record: ReferralRecord) -> None:
        for store in self.stores:
            loaded = self.loop.run_until_complete(store.load([record.key]))
            assert loaded[record.key].referral.to_document() == record.referral.to_document()
            for where in _indexed_filters(record):
                query = ReferralQuery(record.tenant_id, where=where, limit=1000)
                page = self.loop.run_until_complete(store.query(query))
                assert referral_document(record) in page.documents, f"not found by {where}"


def _indexed_filters(record: ReferralRecord) -> Iterator[Comparison | TeamMember]:
    referral = record.referral
    for name, value in (
        ("engagementId", referral.engagement_id),
        ("externalReferenceId", referral.external_reference_id),
    ):
        if value:
            yield Comparison(FIELDS[name], "eq", value)
    for member in referral.team or ():
        if member.email:
            yield TeamMember(member.email.lower())


@pytest.fixture
def both_stores(tmp_path: Path) -> Iterator[BothStores]:
    loop = asyncio.new_event_loop()
    try:
        with contextlib.ExitStack() as closing:
            stack = contextlib.AsyncExitStack()
            closing.callback(lambda: loop.run_until_complete(stack.aclose()))
            url = loop.run_until_complete(stack.enter_async_context(fresh_postgres_database()))
            stores = (SqliteStore(tmp_path / "acceptance.db"), PostgresStore(url))
            for store in stores:
                loop.run_until_complete(store.open())
                stack.push_async_callback(store.close)
            yield BothStores(loop, stores)
    finally:
        loop.close()


def test_every_referral_the_decision_accepts_both_stores_hold(both_stores: BothStores) -> None:
    serial = itertools.count()
    refused = []

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(identifiers, st.one_of(st.none(), identifiers), documents(), patches())
    @example("r", None, {"externalReferenceId": four_byte_text(1, 700)}, [])
    @example("r", "t", {"engagementId": four_byte_text(2, LONGEST_INDEXED + 1)}, [])
    @example("r", None, {"engagementId": "a\x00b"}, [])
    @example("r", None, {"name": "a\x00b"}, [])
    @example("r", None, {"team": [{"email": "a\x00@b.example"}]}, [])
    def accepted_is_stored(
        referral_id: str, tenant: str | None, document: dict[str, Any], patch: list[Any]
    ) -> None:
        # Each example its own referral: a number in place of the id's first characters.
        number = str(next(serial))
        referral_id = number + referral_id[len(number) :]
        create = Command(type=CommandType.CREATE, command_id=f"c-{number}",
                         referral_id=referral_id, data=document, tenant_id=tenant)  # fmt: skip
        decision = decide(None, create, NOW)
        if not isinstance(decision, Applied):
            refused.append(decision)
            return
        both_stores.write(decision.record, 0, create)
        both_stores.read_back(decision.record)
        change = Command(type=CommandType.PATCH, command_id=f"p-{number}",
                         referral_id=referral_id, data=patch, tenant_id=tenant)  # fmt: skip
        patched = decide(decision.record, change, NOW)
        if isinstance(patched, Applied) and patched.events:
            both_stores.write(patched.record, 1, change)
            both_stores.read_back(patched.record)

    accepted_is_stored()

    # Neither side of the test was left empty.
    assert both_stores.taken >= 30, both_stores.taken
    assert len(refused) >= 20, len(refused)


def test_the_longest_indexed_strings_fit_beside_the_longest_tenant_and_id(
    both_stores: BothStores,
) -> None:
    def widest(length: int) -> str:
        return four_byte_text(length, length)

    document = {
        "engagementId": widest(LONGEST_INDEXED),
        "externalReferenceId": widest(LONGEST_INDEXED),
        "direction": widest(LONGEST_INDEXED),
        "team": [{"email": widest(LONGEST_INDEXED - 10) + "@x.example"}],
    }
    create = Command(type=CommandType.CREATE, command_id=widest(LONGEST_ID),
                     referral_id=widest(LONGEST_ID), data=document,
                     tenant_id=widest(LONGEST_ID))  # fmt: skip
    decision = decide(None, create, NOW)
    assert isinstance(decision, Applied)

    both_stores.write(decision.record, 0, create)

    both_stores.read_back(decision.record)
