"""GET /v1.0/engagements/referrals/{id} over real HTTP, on SQLite and PostgreSQL."""

from service.jsonio import dumps
from state import CommandType
from tests.support.read_api import REFERRALS, Api
from tests.support.stored_referrals import BASE_TIME as T
from tests.support.stored_referrals import created, minutes, moved, store_changed, store_new


async def test_a_referral_is_the_document_its_events_carry_with_its_etag(api: Api) -> None:
    record = created("contoso-1", customerProfile={"address": {"country": "US"}})
    await store_new(api.store, record)
    response = await api.get(f"{REFERRALS}/contoso-1")
    assert response.status_code == 200
    assert response.content == record.referral.encoded(dumps)
    assert response.headers["etag"] == record.referral.e_tag
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["ms-requestid"]


async def test_if_none_match_with_the_current_etag_is_304_and_a_stale_one_gets_the_referral(
    api: Api,
) -> None:
    first = created("contoso-1")
    await store_new(api.store, first)
    etag = first.referral.e_tag
    assert etag is not None
    unchanged = await api.client.get(
        f"{REFERRALS}/contoso-1",
        headers={"Authorization": "Bearer key-org-a", "If-None-Match": etag},
    )
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert unchanged.headers["etag"] == etag
    accepted = moved(first, CommandType.ACCEPT, T + minutes(1))
    await store_changed(api.store, first, accepted)
    changed = await api.client.get(
        f"{REFERRALS}/contoso-1",
        headers={"Authorization": "Bearer key-org-a", "If-None-Match": f'W/{etag}, "other"'},
    )
    assert changed.status_code == 200
    assert changed.json()["status"] == "Active"
    assert changed.headers["etag"] == accepted.referral.e_tag != etag


async def test_another_tenants_referral_is_not_found_exactly_as_a_missing_one(api: Api) -> None:
    await store_new(api.store, created("contoso-1", tenant="org-b"))
    theirs = await api.get(f"{REFERRALS}/contoso-1", key="key-org-a")
    missing = await api.get(f"{REFERRALS}/nobody-has-this", key="key-org-a")
    assert theirs.status_code == missing.status_code == 404
    assert (
        theirs.json()
        == missing.json()
        == {"error": {"code": "itemNotFound", "message": "no referral with this id"}}
    )
    asked = await api.get(f"{REFERRALS}/contoso-1", key="key-org-a", tenantId="org-b")
    assert asked.status_code == 404
    assert (await api.get(f"{REFERRALS}/contoso-1", key="key-org-b")).status_code == 200


async def test_tenant_less_referrals_are_read_only_by_an_all_tenants_caller(api: Api) -> None:
    await store_new(api.store, created("open-1", tenant=None), created("owned-1", tenant="org-b"))
    assert (await api.get(f"{REFERRALS}/open-1", key="key-org-a")).status_code == 404
    assert (await api.get(f"{REFERRALS}/open-1", key="key-operator")).status_code == 200
    owned = await api.get(f"{REFERRALS}/owned-1", key="key-operator", tenantId="org-b")
    assert owned.status_code == 200
    assert owned.json()["id"] == "owned-1"
