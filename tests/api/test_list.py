"""GET /v1.0/engagements/referrals over real HTTP: every filter operator, Partner Center's
own filter examples, ordering, counting, and refusals that name the problem."""

from typing import Any

import pytest

from state import CommandType
from tests.support.read_api import REFERRALS, Api
from tests.support.stored_referrals import BASE_TIME as T
from tests.support.stored_referrals import created, minutes, moved, store_changed, store_new

ALEX = "alex.wilber@contoso.example"


def _document(country: str, qualification: str, direction: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "Independent",
        "qualification": qualification,
        "direction": direction,
        "customerProfile": {"address": {"country": country}},
        **more,
    }


@pytest.fixture
async def listed(api: Api) -> Api:
    """org-a has r1 (New), r2 (Active), r3 (Closed/Won); org-b and the tenant-less one more."""
    r1 = created("r1", at=T + minutes(1), engagementId="65edc0b5-3485-41b7-a17e-dfa9ef4706e2",
                 externalReferenceId="crm-1", team=[{"email": ALEX}],
                 **_document("US", "SalesQualified", "Incoming"))  # fmt: skip
    r2 = created("r2", at=T + minutes(2), engagementId="65edc0b5-3485-41b7-a17e-dfa9ef4706e2",
                 **_document("DE", "MarketingQualified", "Outgoing"))  # fmt: skip
    r3 = created("r3", at=T + minutes(3), team=[{"email": "megan@contoso.example"}],
                 expirationDateTime="2026-06-01T00:00:00Z",
                 **_document("US", "SalesQualified", "Outgoing"))  # fmt: skip
    theirs = created("r4", tenant="org-b", at=T, **_document("US", "SalesQualified", "Incoming"))
    nobodys = created("r5", tenant=None, at=T, **_document("US", "SalesQualified", "Incoming"))
    await store_new(api.store, r1, r2, r3, theirs, nobodys)
    await store_changed(api.store, r2, moved(r2, CommandType.ACCEPT, T + minutes(30)))
    await store_changed(api.store, r3, moved(r3, CommandType.WIN, T + minutes(20)))
    return api


async def _ids(api: Api, key: str = "key-org-a", **params: Any) -> list[str]:
    response = await api.get(REFERRALS, key=key, **params)
    assert response.status_code == 200, response.text
    return [referral["id"] for referral in response.json()["value"]]


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        # Partner Center's documentation examples (direction is not a field of the schema:
        # Partner Center payloads carry it, and it is kept and filterable).
        ("engagementId eq '65edc0b5-3485-41b7-a17e-dfa9ef4706e2'", ["r1", "r2"]),
        ("status eq 'New' and qualification eq 'SalesQualified'", ["r1"]),
        ("customerProfile/address/country eq 'US' and direction eq 'Incoming'", ["r1"]),
        (f"team/any(t:t/email eq '{ALEX}')", ["r1"]),
        (f"team/any(t: t/email eq '{ALEX.upper()}')", ["r1"]),
        ("team/any(t:t/email eq 'megan@contoso.example')", ["r3"]),  # kept through a change
        (f"team/any(t:t/email eq '{ALEX}') or status eq 'Closed'", ["r1", "r3"]),
        (f"not team/any(t:t/email eq '{ALEX}')", ["r2", "r3"]),
        ("status ne 'New'", ["r2", "r3"]),
        ("externalReferenceId ne 'crm-1'", ["r2", "r3"]),
        ("createdDateTime gt 2026-05-01T08:01:00Z", ["r2", "r3"]),
        ("createdDateTime ge 2026-05-01T08:01:00Z", ["r1", "r2", "r3"]),
        ("createdDateTime lt 2026-05-01T08:02:00Z", ["r1"]),
        ("createdDateTime le 2026-05-01T08:02:00Z", ["r1", "r2"]),
        ("updatedDateTime ge 2026-05-01T08:20:00Z", ["r2", "r3"]),
        ("expirationDateTime gt 2026-05-20T00:00:00Z", ["r3"]),
        ("expirationDateTime lt 2026-05-20T00:00:00Z", ["r1", "r2"]),
        ("expirationDateTime eq null", []),
        ("engagementId eq null", ["r3"]),
        ("engagementId ne null", ["r1", "r2"]),
        ("substatus eq 'won' or substatus eq 'Accepted'", ["r2", "r3"]),
        ("not (status eq 'New')", ["r2", "r3"]),
        ("not engagementId eq '65edc0b5-3485-41b7-a17e-dfa9ef4706e2'", ["r3"]),
        (
            "(status eq 'New' or status eq 'Closed') and customerProfile/address/country eq 'US'",
            ["r1", "r3"],
        ),
        ("type eq 'Independent' and qualification ne 'SalesQualified'", ["r2"]),
        ("id eq 'r2' or id eq 'r4' or id eq 'r5'", ["r2"]),
        ("ID eq 'r1' AND Status EQ 'New'", ["r1"]),
        ("id gt 'r1' and id le 'r3'", ["r2", "r3"]),
    ],
)
async def test_a_filter_selects_the_tenants_matching_referrals(
    listed: Api, filter_text: str, expected: list[str]
) -> None:
    assert await _ids(listed, **{"$filter": filter_text}) == expected


async def test_a_tenant_lists_only_its_own_and_an_all_tenants_caller_lists_every_one(
    listed: Api,
) -> None:
    assert await _ids(listed) == ["r1", "r2", "r3"]
    assert await _ids(listed, key="key-org-b") == ["r4"]
    assert sorted(await _ids(listed, key="key-operator")) == ["r1", "r2", "r3", "r4", "r5"]
    team = {"$filter": f"team/any(t:t/email eq '{ALEX}')"}
    assert await _ids(listed, key="key-operator", **team) == ["r1"]
    assert await _ids(listed, key="key-org-b", **team) == []


async def test_the_list_is_ordered_by_created_or_updated_time_either_way(listed: Api) -> None:
    assert await _ids(listed, **{"$orderby": "createdDateTime desc"}) == ["r3", "r2", "r1"]
    assert await _ids(listed, **{"$orderby": "updatedDateTime"}) == ["r1", "r3", "r2"]
    assert await _ids(listed, **{"$orderby": "updatedDateTime desc"}) == ["r2", "r3", "r1"]


async def test_count_is_of_every_match_and_the_page_holds_top(listed: Api) -> None:
    response = await listed.get(REFERRALS, **{"$top": 1, "$count": "true"})
    body = response.json()
    assert body["@odata.count"] == 3
    assert [r["id"] for r in body["value"]] == ["r1"]
    assert "$skiptoken" in body["@odata.nextLink"] or "%24skiptoken" in body["@odata.nextLink"]
    assert body["@odata.context"].endswith("$metadata#referrals")
    last = await listed.get(REFERRALS, **{"$filter": "status eq 'Closed'"})
    assert "@odata.nextLink" not in last.json()


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"$filter": "status eq"}, "ends too early"),
        ({"$filter": "status eq 'New' and"}, "ends too early"),
        ({"$filter": "(status eq 'New'"}, "the '(' at position 1 is not closed"),
        ({"$filter": "(status eq 'New' or"}, "ends too early"),
        ({"$filter": "status eq 'New')"}, "unexpected ')' at position 16: it closes no '('"),
        ({"$filter": "name eq 'x'"}, "'name' cannot be filtered on"),
        ({"$filter": "status foo 'New'"}, "expected an operator"),
        ({"$filter": "status eq 'Bogus'"}, "'Bogus' is not a status value"),
        ({"$filter": "status eq 5"}, "the number 5 at position 11 is not supported"),
        ({"$filter": "status eq 'New' xor id eq 'a'"}, "at position 17, found 'xor'"),
        ({"$filter": "createdDateTime gt 'yesterday'"}, "not a UTC date-time"),
        ({"$filter": "createdDateTime gt 2026-05-01T08:00:00+02:00"}, "not a UTC date-time"),
        ({"$filter": "createdDateTime gt null"}, "compared with null by eq or ne"),
        ({"$filter": "status eq null eq"}, "at position 16, found 'eq'"),
        ({"$filter": "team/any(t:t/firstName eq 'Alex')"}, "team/any supports one condition"),
        ({"$filter": "status eq 'it''s"}, "the string at position 11 is not closed"),
        ({"$filter": "(" * 40 + "id eq 'a'" + ")" * 40}, "nests deeper than 32"),
        ({"$filter": " "}, "the filter is empty"),
        ({"$orderby": "name"}, "$orderby takes one of createdDateTime, updatedDateTime"),
        ({"$orderby": "createdDateTime sideways"}, "direction is asc or desc"),
        ({"$top": "0"}, "greater than or equal to 1"),
        ({"$top": "101"}, "less than or equal to 100"),
        ({"$top": "many"}, "valid integer"),
        ({"$skip": "10"}, "the query option $skip is not supported"),
        ({"$skiptoken": "not-a-token"}, "not one this service made"),
    ],
)
async def test_a_malformed_query_is_a_400_that_names_the_problem(
    sqlite_api: Api, params: dict[str, str], problem: str
) -> None:
    response = await sqlite_api.get(REFERRALS, **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalidRequest"
    assert problem in error["message"]
    assert error["target"] == next(iter(params))


async def test_an_unsupported_odata_construct_is_named_with_what_is_supported(
    sqlite_api: Api,
) -> None:
    constructs = {
        "contains(id, 'crm')": "the function contains(...) at position 1",
        "status in ('New', 'Active')": "the operator 'in' at position 8",
        "createdDateTime add duration'P1D' gt 2026-01-01T00:00:00Z": "arithmetic ('add')",
        "status has 'New'": "the operator 'has'",
        "team/all(t: t/email eq 'a@contoso.example')": "the lambda team/all(...)",
    }
    for filter_text, named in constructs.items():
        response = await sqlite_api.get(REFERRALS, **{"$filter": filter_text})
        assert response.status_code == 400, filter_text
        error = response.json()["error"]
        assert (error["code"], error["target"]) == ("invalidRequest", "$filter")
        assert named in error["message"]
        assert "is not supported" in error["message"]
        assert "; supported: fields id, status" in error["message"]
        assert "operators eq ne gt ge lt le, and, or, not" in error["message"]
