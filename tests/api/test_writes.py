"""Writes over REST in Partner Center's shape, through the running service (``referrals
run``'s composition), a real broker and a real store: every documentation write example is
accepted over HTTP, read back by GET and seen on the events topic; a retry with the same
request id is answered the same with one event; a stale If-Match is a 412 in Partner
Center's body; an illegal move a 400 naming the rule; a tenant cannot touch another's."""

import contextlib
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from service.api.compose import read_api
from service.broker import EmbeddedBroker, free_port
from service.jsonio import dumps, loads
from service.settings import Settings
from service.store import open_store, sqlite_path
from tests.support.kafka_io import collect
from tests.support.read_api import REFERRALS
from tests.support.services import isolated_settings, running

pytestmark = pytest.mark.broker
CORPUS = Path(__file__).parent.parent / "corpus" / "partner_center"
KEYS = {
    "key-a": {"tenant": "org-a", "write": True},
    "key-b": {"tenant": "org-b", "write": True},
    "key-a-read": "org-a",
}
#: The documented PATCH examples, the one closing the referral last.
PATCHES = [f"patch-referral-{n}request.json" for n in ("", "sample-1-", "sample-3-", "sample-2-")]
A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}


def corpus(name: str) -> Any:
    return loads((CORPUS / name).read_bytes())


@contextlib.asynccontextmanager
async def serving(
    broker: EmbeddedBroker, database: Path, **overrides: object
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """The service (consumer and API) with the test's keys, and a client of its API."""
    settings = isolated_settings(
        broker.bootstrap_servers,
        database,
        api_port=free_port(),
        api_keys=SecretStr(json.dumps(KEYS)),
        **overrides,
    )
    async with running(settings):
        base = f"http://127.0.0.1:{settings.api_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            yield settings, http


@pytest.fixture
async def service(
    broker: EmbeddedBroker, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """Over SQLite; ``request.param``: settings of the test's own."""
    async with serving(broker, tmp_path / "referrals.db", **getattr(request, "param", {})) as up:
        yield up


@pytest.fixture
async def either_service(
    broker: EmbeddedBroker, tmp_path: Path, store_url: str
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """Over SQLite and over PostgreSQL (``store_url``, tests/api/conftest.py)."""
    async with serving(broker, tmp_path / "r.db", database_url=store_url) as up:
        yield up


def caused_by(events: list[Any], request_id: str) -> list[Any]:
    return [e for e in events if e.header("ce_causationid") == request_id]


async def test_every_documented_patch_and_put_is_accepted_read_back_and_published(
    either_service: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, http = either_service
    document = corpus("create-shared-referral-request.json")
    created = await http.post(REFERRALS, json=document, headers={**A, "MS-CorrelationId": "crm-7"})
    assert created.status_code == 201, created.text
    assert created.headers["request-id"] == created.headers["ms-requestid"]  # one id, made
    referral = created.json()
    location, etag = created.headers["location"], created.headers["etag"]
    assert (location, etag) == (f"{REFERRALS}/{referral['id']}", referral["eTag"])
    assert referral["name"] == document["name"]
    read = await http.get(location, headers=A)
    assert read.content == created.content
    answered = [created.headers["request-id"]]
    for name in PATCHES:
        patched = await http.patch(location, json=corpus(name), headers={**A, "If-Match": etag})
        assert patched.status_code == 204, (name, patched.text)
        assert patched.content == b""
        etag = patched.headers["etag"]
        answered.append(patched.headers["request-id"])
    notes = [{"op": "replace", "path": "/details/notes", "value": "Closed as won."}]
    shown = await http.patch(location, json=notes, headers={**A, "Prefer": "return=representation"})
    read = await http.get(location, headers=A)
    assert (shown.status_code, shown.content) == (200, read.content)
    assert (read.headers["etag"], read.json()["substatus"]) == (shown.headers["etag"], "Won")
    assert shown.headers["etag"] != etag

    put = corpus("update-referral-put-request.json")
    base = {**corpus("create-shared-referral-request.json"), "id": put["id"]}
    first = await http.post(REFERRALS, json=base, headers=A)
    etag = first.headers["etag"]
    for name in (
        "update-referral-put-request.json",
        "update-referral-status-2018-put-request.json",
    ):
        document = {**corpus(name), "links": {"self": {"uri": "ignored", "method": "GET"}}}
        replaced = await http.put(
            first.headers["location"], content=dumps(document), headers={**A, "If-Match": etag}
        )
        assert replaced.status_code == 200, (name, replaced.text)
        etag = replaced.headers["etag"]
        assert replaced.json()["eTag"] == etag
        assert "links" not in replaced.json()
        answered.append(replaced.headers["request-id"])
        read = await http.get(first.headers["location"], headers=A)
        assert read.content == replaced.content

    events = await collect(settings, [settings.events_topic], lambda got: len(got) >= 9)
    assert [len(caused_by(events, request_id)) for request_id in answered] == [1] * 7
    [create_event] = caused_by(events, answered[0])
    assert create_event.json["referral"] == loads(created.content)
    assert create_event.header("ce_correlationid") == "crm-7"


async def test_a_retry_with_the_same_request_id_gets_the_same_answer_and_one_event(
    either_service: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, http = either_service
    document = corpus("create-shared-referral-request.json")
    request_id = str(uuid.uuid4())
    sent = {**A, "MS-RequestId": request_id}

    first = await http.post(REFERRALS, json=document, headers=sent)
    again = await http.post(REFERRALS, json=document, headers=sent)
    patch = {**A, "request-id": f"patch-{request_id}"}
    patched = [
        await http.patch(first.headers["location"], json=corpus(name), headers=patch)
        for name in ["patch-referral-sample-1-request.json"] * 2
    ]

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["request-id"] == request_id
    assert [p.status_code for p in patched] == [204, 204]
    assert patched[0].headers["etag"] == patched[1].headers["etag"]
    events = await collect(settings, [settings.events_topic], lambda got: len(got) >= 2)
    assert len(caused_by(events, request_id)) == 1
    assert len(caused_by(events, f"patch-{request_id}")) == 1


async def test_refusals_answer_in_partner_centers_body_and_a_tenant_cannot_touch_another(
    service: tuple[Settings, httpx.AsyncClient],
) -> None:
    _, http = service
    document = {**corpus("create-shared-referral-request.json"), "id": "shared-id"}
    theirs = await http.post(REFERRALS, json=document, headers=B)
    assert theirs.status_code == 201, theirs.text
    location, etag = theirs.headers["location"], theirs.headers["etag"]
    won = corpus("patch-referral-sample-2-request.json")
    closed = await http.patch(location, json=won, headers={**B, "If-Match": etag})
    assert closed.status_code == 204, closed.text

    same = await http.patch(location, json=won, headers=B)  # changes nothing: no event
    assert (same.status_code, same.headers["etag"]) == (204, closed.headers["etag"])
    stale = await http.patch(location, json=won, headers={**B, "If-Match": etag})
    reopen = [{"op": "replace", "path": "/status", "value": "Active"},
              {"op": "replace", "path": "/substatus", "value": "Accepted"}]  # fmt: skip
    illegal = await http.patch(location, json=reopen, headers=B)
    unconditional = await http.put(location, json=document, headers=B)
    again = await http.post(REFERRALS, json=document, headers=B)
    read_only = await http.post(
        REFERRALS, json=document, headers={"Authorization": "Bearer key-a-read"}
    )

    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "preconditionFailed"
    assert stale.json()["error"]["target"] == "ETag"
    assert illegal.status_code == 400
    assert illegal.json()["error"]["code"] == "invalidRequest"
    assert illegal.json()["error"]["innerError"] == {"code": "illegalTransition"}
    assert illegal.json()["error"]["message"] == (
        "illegal transition: a referral in Closed/Won cannot move to Active/Accepted"
        " (the rule: Closed moves only to Closed)"
    )
    assert (unconditional.status_code, unconditional.json()["error"]["target"]) == (412, "ETag")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    unusable = await http.post(REFERRALS, json=document, headers={**B, "request-id": "x" * 300})
    assert (unusable.status_code, unusable.json()["error"]["target"]) == (400, "request id")
    assert (read_only.status_code, read_only.json()["error"]["code"]) == (403, "accessDenied")

    # Tenant A: B's referral is answered exactly as a missing one, by every write.
    missing = f"{REFERRALS}/nobody-has-this"
    for target in (location, missing):
        patched = await http.patch(target, json=won, headers={**A, "If-Match": etag})
        put = await http.put(target, json=document, headers={**A, "If-Match": etag})
        assert (patched.status_code, put.status_code) == (404, 404)
        assert patched.json()["error"]["code"] == put.json()["error"]["code"] == "itemNotFound"
    status = await http.get(
        f"/v1.0/engagements/referralOperations/{theirs.headers['request-id']}", headers=A
    )
    own = await http.post(REFERRALS, json=document, headers=A)
    assert status.status_code == 404
    assert own.status_code == 201  # A's own referral of that id
    after = await http.get(location, headers=B)
    assert after.headers["etag"] == closed.headers["etag"]


@pytest.mark.parametrize("service", [{"api_write_wait_seconds": 0.001}], indirect=True)
async def test_a_write_past_the_wait_is_accepted_and_its_status_url_resolves(
    service: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, http = service
    # The store's write lock held meanwhile: the consume loop cannot settle the command
    # within the wait, however quickly it reads it (its write waits; reads do not).
    with contextlib.closing(
        sqlite3.connect(sqlite_path(settings.database_url.get_secret_value()))
    ) as holder:
        holder.isolation_level = None
        holder.execute("BEGIN IMMEDIATE")
        try:
            accepted = await http.post(
                REFERRALS, json=corpus("create-shared-referral-request.json"), headers=A
            )
        finally:
            holder.execute("ROLLBACK")
    assert accepted.status_code == 202, accepted.text
    status_url = accepted.headers["location"]
    assert status_url == accepted.json()["statusUrl"]
    assert status_url.startswith("/v1.0/engagements/referralOperations/")
    assert accepted.json()["status"] == "running"

    request_id = accepted.headers["request-id"]
    events = await collect(settings, [settings.events_topic], lambda got: len(got) >= 1)
    referral = caused_by(events, request_id)[0].json["referral"]
    status = await http.get(status_url, headers=A)

    assert status.status_code == 200
    assert status.json()["status"] == "succeeded"
    assert status.json()["resourceLocation"] == f"{REFERRALS}/{referral['id']}"
    read = await http.get(status.json()["resourceLocation"], headers=A)
    assert read.json() == referral


async def test_writes_answer_503_while_the_broker_is_away_and_the_limits_hold_before_it(
    tmp_path: Path,
) -> None:
    settings = isolated_settings(
        f"127.0.0.1:{free_port()}",
        tmp_path / "referrals.db",
        api_port=free_port(),
        api_keys=SecretStr(json.dumps(KEYS)),
        max_command_bytes=1024,
        max_patch_operations=2,
    )
    replace = {"op": "replace", "path": "/name", "value": "y"}
    store = open_store(settings.database_url.get_secret_value())
    await store.open()
    server = read_api(settings, store)
    assert server is not None
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            write = await http.post(REFERRALS, json={"name": "x"}, headers=A)
            read = await http.get(f"{REFERRALS}/x", headers=A)
            large = await http.post(REFERRALS, json={"name": "x" * 1024}, headers=A)
            many = await http.patch(f"{REFERRALS}/x", json=[replace] * 3, headers=A)
            garbled = await http.post(REFERRALS, content=b'{"name": ', headers=A)
    finally:
        await server.stop()
        await store.close()
    assert write.status_code == 503
    assert write.headers["retry-after"] == "5"
    assert write.json()["error"]["code"] == "serviceUnavailable"
    assert read.status_code == 404
    assert (large.status_code, large.json()["error"]["target"]) == (413, "body")
    assert (many.status_code, many.json()["error"]["target"]) == (400, "body")
    assert "at most 2 operations" in many.json()["error"]["message"]
    assert (garbled.status_code, garbled.json()["error"]["code"]) == (400, "invalidRequest")


async def test_in_multi_tenant_mode_a_write_goes_to_the_callers_own_topic(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = f"commands-org-a-{uuid.uuid4().hex[:8]}"
    async with serving(broker, tmp_path / "r.db", tenant_topics={"org-a": topic}) as up:
        settings, http = up
        document = corpus("create-shared-referral-request.json")
        mine = await http.post(REFERRALS, json=document, headers=A)
        theirs = await http.post(REFERRALS, json=document, headers=B)  # no topic of its own
        sent = await collect(settings, [topic, settings.commands_topic], lambda got: len(got) >= 2)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    by_id = {loads(record.value)["id"]: record for record in sent}
    assert by_id[mine.headers["request-id"]].topic == topic
    assert by_id[theirs.headers["request-id"]].topic == settings.commands_topic
    assert loads(by_id[theirs.headers["request-id"]].value)["tenantid"] == "org-b"


async def test_a_rejections_status_is_the_same_from_a_new_api_process_as_from_memory(
    service: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, http = service
    created = await http.post(
        REFERRALS, json=corpus("create-shared-referral-request.json"), headers=A
    )
    location, etag = created.headers["location"], created.headers["etag"]
    notes = [{"op": "replace", "path": "/details/notes", "value": "first"}]
    moved = await http.patch(location, json=notes, headers={**A, "If-Match": etag})
    stale = await http.patch(location, json=notes, headers={**A, "If-Match": etag})
    assert (moved.status_code, stale.status_code) == (204, 412), stale.text
    request_id = stale.headers["request-id"]
    status_url = f"/v1.0/engagements/referralOperations/{request_id}"
    from_memory = await http.get(status_url, headers=A)

    # Another API process over the same store: its waiter has seen no outcome.
    store = open_store(settings.database_url.get_secret_value())
    await store.open()
    server = read_api(settings.model_copy(update={"api_port": free_port()}), store)
    assert server is not None
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as other:
            from_store = await other.get(status_url, headers=A)
            retried = await other.patch(
                location, json=notes, headers={**A, "If-Match": etag, "request-id": request_id}
            )
    finally:
        await server.stop()
        await store.close()

    assert from_memory.status_code == from_store.status_code == 200
    assert from_store.json() == from_memory.json()
    assert from_store.json() == {"id": request_id, "status": "failed", **stale.json()}
    assert (retried.status_code, retried.content) == (412, stale.content)
