"""Every request is authenticated: real RS256 tokens made here against a JWKS (a file, and a
URL served here), and API keys. Every failure is a 401 naming the problem."""

import time
from typing import Any

import pytest
from pydantic import SecretStr

from service.settings import Settings
from tests.support.jwks_server import serving_jwks
from tests.support.read_api import ALL_TENANTS_ROLE, AUDIENCE, REFERRALS, Api, Signer, running_api
from tests.support.stored_referrals import created, store_new


@pytest.fixture
async def stored(sqlite_api: Api) -> Api:
    records = [created("a-1"), created("b-1", tenant="org-b"), created("open-1", tenant=None)]
    await store_new(sqlite_api.store, *records)
    return sqlite_api


async def _as(api: Api, bearer: str | None, path: str = REFERRALS) -> Any:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return await api.client.get(path, headers=headers)


async def test_a_token_reads_the_referrals_of_the_tenant_its_claim_names(
    stored: Api, signer: Signer
) -> None:
    response = await _as(stored, signer.token(tid="org-b"))
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["value"]] == ["b-1"]
    assert (await _as(stored, signer.token(tid="org-b"), f"{REFERRALS}/a-1")).status_code == 404


async def test_the_all_tenants_role_reads_every_tenant_and_the_tenant_less(
    stored: Api, signer: Signer
) -> None:
    token = signer.token(tid=None, roles=["Referrals.Read", ALL_TENANTS_ROLE])
    response = await _as(stored, token)
    assert sorted(r["id"] for r in response.json()["value"]) == ["a-1", "b-1", "open-1"]
    assert (await _as(stored, token, f"{REFERRALS}/open-1")).status_code == 200
    tenant_token = signer.token(tid="org-a", roles=["Referrals.Read"])
    assert (await _as(stored, tenant_token, f"{REFERRALS}/open-1")).status_code == 404


async def test_api_keys_map_to_their_tenant(stored: Api) -> None:
    assert [r["id"] for r in (await _as(stored, "key-org-a")).json()["value"]] == ["a-1"]
    everyone = (await _as(stored, "key-operator")).json()["value"]
    assert len(everyone) == 3


def _expired(signer: Signer) -> str:
    past = int(time.time()) - 3600
    return signer.token(tid="org-a", iat=past - 300, exp=past)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda s: None, "no credentials"),
        (lambda s: "Basic dXNlcjpwYXNz", "neither a valid token nor a known API key"),
        (lambda s: "not-a-key", "neither a valid token nor a known API key"),
        (lambda s: "a.b.c", "not signed by a key of the JWKS"),
        (lambda s: s.token(tid="org-a", foreign_key=True), "signature does not verify"),
        (_expired, "the token has expired"),
        (lambda s: s.token(tid="org-a", aud="api://someone-else"), "not meant for this audience"),
        (lambda s: s.token(tid="org-a", iss="https://evil.example/"), "not from the configured"),
        (lambda s: s.token(tid="org-a", exp=None), "MissingRequiredClaimError"),
        (lambda s: s.token(tid=None), "no 'tid' claim naming a tenant"),
        (lambda s: s.token(tid="org-a")[:-4] + "AAAA", "signature does not verify"),
    ],
)
async def test_missing_or_bad_credentials_are_a_401(
    stored: Api, signer: Signer, make: Any, problem: str
) -> None:
    for path in (REFERRALS, f"{REFERRALS}/a-1"):
        response = await _as(stored, make(signer), path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["code"] == "unauthenticated"
        assert problem in error["message"]


async def test_a_basic_authorization_is_no_credentials(stored: Api) -> None:
    response = await stored.client.get(REFERRALS, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert "no credentials" in response.json()["error"]["message"]


async def test_a_token_signed_with_none_is_refused(stored: Api, signer: Signer) -> None:
    import jwt

    unsigned = jwt.encode({"tid": "org-a", "aud": AUDIENCE}, key=None, algorithm="none")
    assert (await _as(stored, unsigned)).status_code == 401


async def test_the_jwks_may_be_a_url(api_settings: Settings, signer: Signer) -> None:
    with serving_jwks() as (server, url):
        server.serve(signer.jwks)
        settings = api_settings.model_copy(
            update={"api_jwks_file": None, "api_jwks_url": url, "api_keys": SecretStr("{}")}
        )
        async with running_api(settings) as api:
            await store_new(api.store, created("a-1"))
            assert (await _as(api, signer.token(tid="org-a"))).status_code == 200
            assert (await _as(api, signer.token(tid="org-a", foreign_key=True))).status_code == 401
