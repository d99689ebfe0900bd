"""HEAD and the methods a route does not take, over real HTTP: HEAD is GET without a body
(the same headers, the ETag included), and a 405 names what is allowed in ``Allow``."""

import httpx
import pytest

from tests.support.read_api import REFERRALS, Api
from tests.support.stored_referrals import created, store_new

AUTH = {"Authorization": "Bearer key-org-a"}


async def _get_and_head(api: Api, path: str, **headers: str) -> tuple[httpx.Response, ...]:
    got = await api.client.get(path, headers={**AUTH, **headers})
    head = await api.client.head(path, headers={**AUTH, **headers})
    return got, head


def _same_but_the_request_id(got: httpx.Response, head: httpx.Response) -> None:
    assert head.content == b""
    assert head.status_code == got.status_code
    varying = {"ms-requestid", "date"}
    assert {name: value for name, value in head.headers.items() if name not in varying} == {
        name: value for name, value in got.headers.items() if name not in varying
    }


async def test_head_of_a_referral_is_its_get_without_the_body(sqlite_api: Api) -> None:
    record = created("contoso-1")
    await store_new(sqlite_api.store, record)
    got, head = await _get_and_head(sqlite_api, f"{REFERRALS}/contoso-1")
    assert got.status_code == 200
    assert int(head.headers["content-length"]) == len(got.content) > 0
    assert head.headers["etag"] == record.referral.e_tag
    _same_but_the_request_id(got, head)
    etag = head.headers["etag"]
    unchanged = await sqlite_api.client.head(
        f"{REFERRALS}/contoso-1", headers={**AUTH, "If-None-Match": etag}
    )
    assert (unchanged.status_code, unchanged.headers["etag"]) == (304, etag)


@pytest.mark.parametrize(
    "path",
    [
        REFERRALS + "?$top=1&$count=true",
        REFERRALS + "/nobody-has-this",
        "/openapi.json",
        "/v1.0/engagements/$metadata",
    ],
)
async def test_head_of_the_other_routes_is_their_get_without_the_body(
    sqlite_api: Api, path: str
) -> None:
    await store_new(sqlite_api.store, created("contoso-1"), created("contoso-2"))
    got, head = await _get_and_head(sqlite_api, path)
    assert got.content
    _same_but_the_request_id(got, head)


ONE_REFERRAL = ["GET", "HEAD", "PATCH", "PUT"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", REFERRALS, ["GET", "HEAD", "POST"]),
        ("DELETE", f"{REFERRALS}/contoso-1", ONE_REFERRAL),
        ("POST", f"{REFERRALS}/contoso-1", ONE_REFERRAL),
        ("PUT", "/v1.0/engagements/$metadata", ["GET", "HEAD"]),
        ("POST", "/v1.0/engagements/referralOperations/r-1", ["GET", "HEAD"]),
    ],
)
async def test_a_method_a_route_does_not_take_is_405_naming_the_allowed_ones(
    sqlite_api: Api, method: str, path: str, allowed: list[str]
) -> None:
    response = await sqlite_api.client.request(method, path, headers=AUTH)
    assert response.status_code == 405
    assert sorted(name.strip() for name in response.headers["allow"].split(",")) == allowed
    assert response.json()["error"]["code"] == "methodNotAllowed"
