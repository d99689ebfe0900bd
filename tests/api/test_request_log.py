"""A request log line carries the request's ids, route, status, duration and tenant, and
nothing personal: never the query string (a filter may hold an e-mail) nor credentials."""

import logging

import pytest

from tests.support.read_api import REFERRALS, Api


async def test_a_request_is_logged_with_ids_and_timing_but_not_its_query(
    sqlite_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.api.requests")
    response = await sqlite_api.client.get(
        REFERRALS,
        params={"$filter": "team/any(t:t/email eq 'alex.wilber@contoso.example')"},
        headers={"Authorization": "Bearer key-org-a", "MS-CorrelationId": "corr-42"},
    )
    assert response.status_code == 200
    assert response.headers["ms-correlationid"] == "corr-42"
    [entry] = [r for r in caplog.records if r.name == "service.api.requests"]
    fields = vars(entry)
    assert fields["path"] == REFERRALS
    assert (fields["status"], fields["tenant"], fields["method"]) == (200, "org-a", "GET")
    assert fields["request_id"] == response.headers["ms-requestid"]
    assert fields["correlation_id"] == "corr-42"
    assert fields["duration_ms"] >= 0
    logged = " ".join(str(value) for value in fields.values())
    assert "alex.wilber" not in logged
    assert "key-org-a" not in logged
