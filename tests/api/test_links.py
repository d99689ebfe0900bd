"""The links a list answers with (@odata.nextLink, @odata.context) start with the configured
public URL or are relative to the server's root: a caller's Host or X-Forwarded-* header
never redirects them."""

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from service.settings import Settings
from tests.support.read_api import REFERRALS, Api, running_api
from tests.support.stored_referrals import BASE_TIME as T
from tests.support.stored_referrals import created, minutes, store_new

FORGED = {
    "Host": "evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.9",
    "Forwarded": "host=evil.example;proto=https",
}
FILTER = "status eq 'New'"


async def _first_page(api: Api, **headers: str) -> dict[str, str]:
    await store_new(api.store, *(created(f"l{n}", at=T + minutes(n)) for n in range(3)))
    response = await api.client.get(
        REFERRALS,
        params={"$top": 1, "$filter": FILTER, "$count": "true", "tenantId": "org-b"},
        headers={"Authorization": "Bearer key-org-a", **headers},
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


@pytest.fixture
async def behind_a_trusting_proxy(api_settings: Settings) -> AsyncIterator[Api]:
    settings = api_settings.model_copy(update={"api_forwarded_allow_ips": "*"})
    async with running_api(settings) as api:
        yield api


async def test_without_a_public_url_links_are_relative_to_the_root_whatever_the_host(
    sqlite_api: Api,
) -> None:
    body = await _first_page(sqlite_api, **FORGED)
    link = urlsplit(body["@odata.nextLink"])
    assert (link.scheme, link.netloc, link.path) == ("", "", REFERRALS)
    assert body["@odata.context"] == "/v1.0/engagements/$metadata#referrals"
    assert "evil.example" not in str(body)


async def test_a_next_link_carries_the_query_options_on_and_nothing_else(sqlite_api: Api) -> None:
    body = await _first_page(sqlite_api)
    options = dict(parse_qsl(urlsplit(body["@odata.nextLink"]).query))
    assert options.keys() == {"$top", "$filter", "$count", "$skiptoken"}
    assert (options["$top"], options["$filter"], options["$count"]) == ("1", FILTER, "true")
    following = await sqlite_api.client.get(
        body["@odata.nextLink"], headers={"Authorization": "Bearer key-org-a"}
    )
    assert [r["id"] for r in following.json()["value"]] == ["l1"]


async def test_even_a_trusted_proxy_forwarding_a_host_does_not_redirect_links(
    behind_a_trusting_proxy: Api,
) -> None:
    body = await _first_page(behind_a_trusting_proxy, **FORGED)
    assert body["@odata.nextLink"].startswith(f"{REFERRALS}?")
    assert "evil.example" not in str(body)


async def test_with_a_public_url_links_start_with_it_whatever_the_host(
    api_settings: Settings,
) -> None:
    public = "https://partner-api.contoso.example/referrals-service"
    settings = api_settings.model_copy(update={"api_public_url": public})
    async with running_api(settings) as api:
        body = await _first_page(api, **FORGED)
    assert body["@odata.nextLink"].startswith(f"{public}{REFERRALS}?")
    assert body["@odata.context"] == f"{public}/v1.0/engagements/$metadata#referrals"
    assert "evil.example" not in str(body)


@pytest.mark.parametrize(
    "url",
    ["partner-api.example", "ftp://partner-api.example", "https://u:p@partner-api.example",
     "https://partner-api.example/?next=evil", "https://partner-api.example/#x"],
)  # fmt: skip
def test_a_public_url_must_be_a_plain_http_base(url: str) -> None:
    with pytest.raises(ValueError, match="api_public_url"):
        Settings(api_public_url=url)


def test_no_proxy_is_trusted_by_default() -> None:
    assert Settings().api_forwarded_allow_ips == ""
    assert Settings(api_public_url="https://api.example/").api_public_url == "https://api.example"
