"""The OpenAPI document, checked against the running API by schemathesis: requests
generated from it (seeded and bounded) against ``referrals api`` as a child process, over
real HTTP; every answer must be one the document describes, and never a server error.

The webhook operations are called with a key that may write, and never make the API look up
a host: a WebhookUrl naming one is sent as a literal address instead (``referrals api``
sends no notification; registration only resolves and judges the URL's host)."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.api.errors import ErrorBody
from service.api.openapi import ReferralPage
from service.api.webhooks.models import (
    WebhookEvent,
    WebhookRegistration,
    WebhookRegistrationRequest,
    WebhookRegistrationState,
    WebhookRegistrationWithSecret,
    WebhookTestEvent,
)
from service.api.writes.models import PatchOperation, ReferralOperation
from service.broker import free_port
from service.jsonio import loads
from service.schemas import shape_schema
from service.settings import Settings
from service.store import open_store
from service.store.webhooks import ACTIVE, FAILING
from service.webhooks.notices import EVENTS
from state import Referral
from tests.support.stored_referrals import BASE_TIME, created, minutes, store_new

KEY = "key-properties"
#: Changes the webhook registration of its tenant.
WRITER = "key-properties-writer"
#: Public (registered), private (refused) and plain HTTP (refused): none needs a lookup.
LITERAL_URLS = ("https://93.184.215.14/hook", "https://10.1.2.3/hook", "http://93.184.215.14/h")


async def _seed(url: str) -> None:
    store = open_store(url)
    await store.open()
    try:
        records = [created(f"r-{n}", at=BASE_TIME + minutes(n)) for n in range(12)]
        await store_new(store, *records, created("other", tenant="org-b"))
    finally:
        await store.close()


def _listening(child: subprocess.Popen[bytes], within: float = 30.0) -> str:
    """The URL the child logs once it listens (its log line is the signal; bounded)."""
    assert child.stderr is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = child.stderr.readline()
        if not line:
            raise AssertionError(f"referrals api ended: {child.wait(5)}")
        entry = loads(line) if line.startswith(b"{") else {}
        if entry.get("message") == "read API listening":
            # Keep reading its log, so a full pipe never blocks the child.
            threading.Thread(target=child.stderr.read, daemon=True).start()
            return str(entry["url"])
    raise AssertionError("referrals api did not listen in time")


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("properties")
    url = f"sqlite:///{folder / 'referrals.db'}"
    asyncio.run(_seed(url))
    configured = Settings(
        database_url=SecretStr(url),
        http_port=free_port(),
        api_port=free_port(),
        api_keys=SecretStr(json.dumps({KEY: "org-a", WRITER: {"tenant": "org-w", "write": True}})),
        log_level="INFO",
    )
    env = {**os.environ, **configured.environment()}
    command = [sys.executable, "-m", "service.cli", "api"]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE) as child:
        try:
            yield _listening(child)
        finally:
            child.terminate()
            assert child.wait(timeout=30) == 0


def test_every_answer_is_one_the_openapi_document_describes(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    # Deletes last: the webhook registration made first is there for the test events.
    for operation in sorted(operations, key=lambda operation: operation.method == "delete"):
        # A referral write without a broker behind the API answers 403 (a read-only key) or
        # 503: fewer examples cover it.
        examples = 150 if operation.method == "get" else 30
        if operation.path.startswith("/webhooks/"):
            literals = st.none() | st.sampled_from(LITERAL_URLS)
            cases = st.builds(_offline, operation.as_strategy(), literals)
            _check(cases, 40, WRITER)
        else:
            _check(operation.as_strategy(), examples, KEY)


def _offline(case: schemathesis.Case, literal: str | None) -> schemathesis.Case:
    """The case with its WebhookUrl replaced by ``literal`` when one is drawn, and always
    when it names a host (then by a public literal address)."""
    body = case.body
    url = body.get("WebhookUrl") if isinstance(body, dict) else None
    if isinstance(url, str) and (literal is not None or _names_a_host(url)):
        body["WebhookUrl"] = literal or LITERAL_URLS[0]
    return case


def _names_a_host(url: str) -> bool:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    try:
        ip_address(host or "")
    except ValueError:
        return bool(host)
    return False


def _check(cases: st.SearchStrategy[schemathesis.Case], examples: int, key: str) -> None:
    @given(case=cases)
    @seed(20261201)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
            # A $filter or $skiptoken the schema allows may still be one the grammar
            # refuses: a 400 for it is the documented answer, not a failure.
            excluded_checks=[positive_data_acceptance],
        )

    answers_as_documented()


def test_the_document_names_the_routes_and_their_query_options(api_url: str) -> None:
    document = httpx.get(f"{api_url}/openapi.json", timeout=10).json()
    listing = document["paths"]["/v1.0/engagements/referrals"]["get"]
    names = {parameter["name"] for parameter in listing["parameters"]}
    assert {"$filter", "$orderby", "$top", "$count", "$skiptoken"} <= names
    assert "/v1.0/engagements/referrals/{referral_id}" in document["paths"]
    assert set(document["components"]["securitySchemes"]) == {"accessToken", "apiKey"}


@pytest.mark.parametrize(
    ("shape", "name"),
    [
        (Referral, "Referral"),
        (ReferralPage, "ReferralPage"),
        (ErrorBody, "ErrorBody"),
        (ReferralOperation, "ReferralOperation"),
        (PatchOperation, "PatchOperation"),
        (WebhookRegistrationRequest, "WebhookRegistrationRequest"),
        (WebhookRegistration, "WebhookRegistration"),
        (WebhookRegistrationWithSecret, "WebhookRegistrationWithSecret"),
        (WebhookTestEvent, "WebhookTestEvent"),
    ],
)
def test_each_body_is_the_named_schema_generated_from_its_model(
    api_url: str, shape: Any, name: str
) -> None:
    document = httpx.get(f"{api_url}/openapi.json", timeout=10).json()
    generated, definitions = shape_schema(shape, "#/components/schemas/{model}")
    components = document["components"]["schemas"]
    assert components[name] == generated
    assert all(components[key] == schema for key, schema in definitions.items())


@pytest.fixture(scope="module")
def document(api_url: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{api_url}/openapi.json", timeout=10).json()
    return answer


@pytest.fixture(scope="module")
def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's operations by their ids."""
    return {
        operation["operationId"]: operation
        for path in document["paths"].values()
        for operation in path.values()
    }


def test_each_operation_has_its_id_and_only_the_answers_the_api_gives(
    document: dict[str, Any], operations: dict[str, dict[str, Any]]
) -> None:
    assert set(operations) == {
        "getReferral", "listReferrals", "createReferral", "updateReferral", "replaceReferral",
        "getReferralOperation", *WEBHOOK_OPERATIONS,
    }  # fmt: skip
    assert _bodies(operations["getReferral"]) == {
        "200": "Referral", "304": None, "400": "ErrorBody", "401": "ErrorBody",
        "404": "ErrorBody", "500": "ErrorBody", "503": "ErrorBody",
    }  # fmt: skip
    assert _bodies(operations["listReferrals"]) == {
        "200": "ReferralPage", "400": "ErrorBody", "401": "ErrorBody", "500": "ErrorBody",
        "503": "ErrorBody",
    }  # fmt: skip
    writes = {"400": "ErrorBody", "401": "ErrorBody", "403": "ErrorBody", "404": "ErrorBody",
              "409": "ErrorBody", "412": "ErrorBody", "413": "ErrorBody", "500": "ErrorBody",
              "503": "ErrorBody", "202": "ReferralOperation"}  # fmt: skip
    assert _bodies(operations["createReferral"]) == {"201": "Referral", **writes}
    assert _bodies(operations["replaceReferral"]) == {"200": "Referral", **writes}
    assert _bodies(operations["updateReferral"]) == {"200": "Referral", "204": None, **writes}
    assert _bodies(operations["getReferralOperation"]) == {
        "200": "ReferralOperation", "400": "ErrorBody", "401": "ErrorBody", "404": "ErrorBody",
        "500": "ErrorBody", "503": "ErrorBody",
    }  # fmt: skip
    assert _request_body(operations["createReferral"]) == {"$ref": "#/components/schemas/Referral"}
    assert _request_body(operations["replaceReferral"]) == _request_body(
        operations["createReferral"]
    )
    assert _request_body(operations["updateReferral"]) == {
        "type": "array", "items": {"$ref": "#/components/schemas/PatchOperation"},
    }  # fmt: skip
    assert all(
        operation["security"] == [{"accessToken": []}, {"apiKey": []}]
        for operation in operations.values()
    )
    assert "ValidationError" not in str(document["components"])


WEBHOOK_OPERATIONS = (
    "createWebhookRegistration", "replaceWebhookRegistration", "getWebhookRegistration",
    "deleteWebhookRegistration", "sendWebhookTestEvent",
)  # fmt: skip


def test_the_webhook_operations_answer_named_bodies_and_name_the_permission_changes_need(
    operations: dict[str, dict[str, Any]],
) -> None:
    hooks = {name: operations[name] for name in WEBHOOK_OPERATIONS}
    refusals = {"400": "ErrorBody", "401": "ErrorBody", "403": "ErrorBody", "500": "ErrorBody",
                "503": "ErrorBody"}  # fmt: skip
    assert _bodies(hooks["createWebhookRegistration"]) == {
        "201": "WebhookRegistrationWithSecret", "409": "ErrorBody", **refusals,
    }  # fmt: skip
    assert _bodies(hooks["replaceWebhookRegistration"]) == {
        "200": "WebhookRegistrationWithSecret", **refusals,
    }  # fmt: skip
    missing = {"404": "ErrorBody", **refusals}
    assert _bodies(hooks["getWebhookRegistration"]) == {"200": "WebhookRegistration", **missing}
    assert _bodies(hooks["deleteWebhookRegistration"]) == {"204": None, **missing}
    assert _bodies(hooks["sendWebhookTestEvent"]) == {
        "200": "WebhookTestEvent", "429": "ErrorBody", **missing,
    }  # fmt: skip
    assert set(hooks["sendWebhookTestEvent"]["responses"]["429"]["headers"]) == {"Retry-After"}
    registration = {"$ref": "#/components/schemas/WebhookRegistrationRequest"}
    assert _request_body(hooks["createWebhookRegistration"]) == registration
    assert _request_body(hooks["replaceWebhookRegistration"]) == registration
    changes = {name for name, hook in hooks.items() if "write permission" in hook["description"]}
    assert changes == set(WEBHOOK_OPERATIONS) - {"getWebhookRegistration"}
    assert all(hook["tags"] == ["webhooks"] for hook in hooks.values())


def test_the_webhook_schemas_name_the_events_and_states_the_service_knows() -> None:
    assert [event.value for event in WebhookEvent] == list(EVENTS)
    assert {state.value for state in WebhookRegistrationState} == {ACTIVE, FAILING}


def test_the_writes_document_the_headers_they_read_and_those_they_answer_with(
    operations: dict[str, dict[str, Any]],
) -> None:
    ids = {"MS-RequestId", "request-id", "Idempotency-Key", "MS-CorrelationId"}
    read = {
        name: {p["name"] for p in operations[name]["parameters"] if p["in"] == "header"}
        for name in ("createReferral", "updateReferral", "replaceReferral")
    }
    assert read == {
        "createReferral": ids,
        "updateReferral": {*ids, "If-Match", "Prefer"},
        "replaceReferral": {*ids, "If-Match"},
    }
    created, patched = (
        operations[name]["responses"] for name in ("createReferral", "updateReferral")
    )
    sent = {status: set(answer.get("headers", ())) for status, answer in created.items()}
    assert sent["201"] == {"ETag", "Location", "request-id"}
    assert sent["202"] == {"Location", "request-id", "Retry-After"}
    assert sent["503"] == {"Retry-After"}
    assert sent["412"] == sent["409"] == {"request-id"}
    assert set(patched["204"]["headers"]) == {"ETag", "request-id"}
    status = operations["getReferralOperation"]["responses"]["200"]
    assert set(status["headers"]) == {"Retry-After"}


def _request_body(operation: dict[str, Any]) -> Any:
    return operation["requestBody"]["content"]["application/json"]["schema"]


def _bodies(operation: dict[str, Any]) -> dict[str, str | None]:
    """Each documented status and the name of the schema of its body."""
    return {
        status: response["content"]["application/json"]["schema"]["$ref"].rpartition("/")[2]
        if "content" in response
        else None
        for status, response in operation["responses"].items()
    }
