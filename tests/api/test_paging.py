"""Paging with @odata.nextLink is a keyset continuation: referrals created and changed
between pages neither make a referral repeat nor go missing."""

import itertools
from typing import Any

import pytest

from state import CommandType, ReferralRecord
from tests.support.read_api import REFERRALS, Api
from tests.support.stored_referrals import BASE_TIME as T
from tests.support.stored_referrals import created, minutes, moved, store_changed, store_new

PAGE = 7


async def _page(api: Api, url: str, **params: Any) -> tuple[list[str], str | None]:
    response = await api.get(url, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [r["id"] for r in body["value"]], body.get("@odata.nextLink")


TEAM = [{"email": "pager@partner.example"}]


@pytest.mark.parametrize("order", ["createdDateTime", "createdDateTime desc"])
@pytest.mark.parametrize("where", [None, "team/any(t:t/email eq 'pager@partner.example')"])
async def test_paging_while_referrals_change_shows_each_one_once(
    api: Api, order: str, where: str | None
) -> None:
    # Same-instant creations exercise the tie-break on the id.
    records = {
        f"p{n:02d}": created(f"p{n:02d}", at=T + minutes(n // 3), team=TEAM) for n in range(30)
    }
    await store_new(api.store, *records.values())
    seen: list[str] = []
    params = {"$top": PAGE, "$orderby": order, **({"$filter": where} if where else {})}
    ids, next_link = await _page(api, REFERRALS, **params)
    fresh = itertools.count()
    while True:
        seen += ids
        await _change_between_pages(api, records, ids, fresh)
        if next_link is None:
            break
        ids, next_link = await _page(api, next_link)
    original = [i for i in seen if i.startswith("p")]
    assert sorted(original) == sorted(records), "every referral there all along, once"
    assert len(seen) == len(set(seen)), "nothing repeated"
    assert original == sorted(original, reverse=order.endswith("desc"))


async def _change_between_pages(
    api: Api, records: dict[str, ReferralRecord], shown: list[str], fresh: "itertools.count[int]"
) -> None:
    """Accept a referral already shown and one not yet shown; create two more, one dated
    before every page and one after."""
    unseen = [i for i in sorted(records) if i not in shown]
    for referral_id in [shown[0], *unseen[:1]]:
        before = records[referral_id]
        if before.state.status.value == "New":
            records[referral_id] = moved(before, CommandType.ACCEPT, T + minutes(60))
            await store_changed(api.store, before, records[referral_id])
    n = next(fresh)
    await store_new(api.store, created(f"early-{n}", at=T - minutes(5)),
                    created(f"late-{n}", at=T + minutes(90)))  # fmt: skip


async def test_a_continuation_token_only_continues_its_own_query(sqlite_api: Api) -> None:
    await store_new(sqlite_api.store, *(created(f"q{n}", at=T + minutes(n)) for n in range(3)))
    _, next_link = await _page(sqlite_api, REFERRALS, **{"$top": 1})
    assert next_link is not None
    token = next_link.rsplit("skiptoken=", 1)[1]
    other = await sqlite_api.get(REFERRALS, **{"$skiptoken": token, "$orderby": "updatedDateTime"})
    assert other.status_code == 400
    assert "another $filter or $orderby" in other.json()["error"]["message"]
