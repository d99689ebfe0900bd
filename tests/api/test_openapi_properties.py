"""The OpenAPI document, checked against the running API by schemathesis: requests
generated from it (seeded and bounded) against ``referrals api`` as a child process, over
real HTTP; every answer must be one the document describes, and never a server error."""

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.api.errors import ErrorBody
from service.api.openapi import ReferralPage
from service.api.write_models import PatchOperation, ReferralOperation
from service.broker import free_port
from service.jsonio import loads
from service.schemas import shape_schema
from service.settings import Settings
from service.store import open_store
from state import Referral
from tests.support.stored_referrals import BASE_TIME, created, minutes, store_new

KEY = "key-properties"


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
        api_keys=SecretStr(json.dumps({KEY: "org-a"})),
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
    assert len(operations) == 6
    for operation in operations:
        # A write without a broker behind the API answers 403 (a read-only key) or 503:
        # fewer examples cover it.
        _check(operation.as_strategy(), 150 if operation.method == "get" else 30)


def _check(cases: st.SearchStrategy[schemathesis.Case], examples: int) -> None:
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
            headers={"Authorization": f"Bearer {KEY}"},
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


def test_each_operation_has_its_id_and_only_the_answers_the_api_gives(api_url: str) -> None:
    document = httpx.get(f"{api_url}/openapi.json", timeout=10).json()
    operations = {
        operation["operationId"]: operation
        for path in document["paths"].values()
        for operation in path.values()
    }
    assert set(operations) == {
        "getReferral", "listReferrals", "createReferral", "updateReferral", "replaceReferral",
        "getReferralOperation",
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
