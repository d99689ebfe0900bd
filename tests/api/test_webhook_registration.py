"""Webhook registration over real HTTP: per tenant, the secret answered once (and rotated
by PUT), unknown events and unsafe URLs refused with Partner Center's error body, changes
only with write permission, test events limited to 2 a minute."""

from typing import Any

import httpx

from tests.support.read_api import Api, Signer

PATH = "/webhooks/v1/registration"
SAFE = "https://93.184.215.14/hook"
EVENTS = ["referral-created", "referral-updated"]


def writer(signer: Signer, tenant: str = "org-a") -> dict[str, str]:
    return {"Authorization": f"Bearer {signer.token(tid=tenant, roles=['Referrals.ReadWrite'])}"}


async def post(api: Api, headers: dict[str, str], body: Any, path: str = PATH) -> httpx.Response:
    return await api.client.post(path, json=body, headers=headers)


async def test_a_registration_answers_its_secret_once_and_put_rotates_it(
    sqlite_api: Api, signer: Signer
) -> None:
    api, headers = sqlite_api, writer(signer)
    created = await post(api, headers, {"WebhookUrl": SAFE, "WebhookEvents": EVENTS})
    again = await post(api, headers, {"WebhookUrl": SAFE, "WebhookEvents": EVENTS})
    shown = await api.client.get(PATH, headers=headers)
    replaced = await api.client.put(
        PATH, json={"WebhookUrl": SAFE, "WebhookEvents": EVENTS[:1]}, headers=headers
    )
    other_tenant = await api.client.get(PATH, headers=writer(signer, "org-b"))
    read_only = await api.get(PATH, key="key-org-a")
    deleted = await api.client.delete(PATH, headers=headers)
    gone = await api.client.get(PATH, headers=headers)
    assert created.status_code == 201
    assert created.json()["SigningSecret"].startswith("whsec_")
    assert again.status_code == 409
    assert shown.json() == {"WebhookUrl": SAFE, "WebhookEvents": EVENTS, "State": "active"}
    assert replaced.json()["WebhookEvents"] == EVENTS[:1]
    assert replaced.json()["SigningSecret"] != created.json()["SigningSecret"]
    assert other_tenant.status_code == 404
    assert read_only.status_code == 200
    assert deleted.status_code == 204
    assert gone.status_code == 404


async def test_unknown_events_unsafe_urls_and_read_only_callers_are_refused(
    sqlite_api: Api, signer: Signer
) -> None:
    api, headers = sqlite_api, writer(signer)
    unknown = await post(api, headers, {"WebhookUrl": SAFE, "WebhookEvents": ["referral-won"]})
    private = await post(
        api, headers, {"WebhookUrl": "https://10.1.2.3/h", "WebhookEvents": EVENTS}
    )
    plain = await post(
        api, headers, {"WebhookUrl": "http://93.184.215.14/h", "WebhookEvents": EVENTS}
    )
    read_only = await api.client.post(
        PATH, json={"WebhookUrl": SAFE, "WebhookEvents": EVENTS},
        headers={"Authorization": "Bearer key-org-a"},
    )  # fmt: skip
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "invalidRequest"
    assert unknown.json()["error"]["target"] == "WebhookEvents"
    assert private.status_code == 400
    assert "private" in private.json()["error"]["message"]
    assert "https" in plain.json()["error"]["message"]
    assert read_only.status_code == 403


async def test_test_events_are_limited_to_two_a_minute(sqlite_api: Api, signer: Signer) -> None:
    api, headers = sqlite_api, writer(signer)
    await post(api, headers, {"WebhookUrl": SAFE, "WebhookEvents": EVENTS})
    sent = [await post(api, headers, None, PATH + "/validationEvents") for _ in range(3)]
    assert [r.status_code for r in sent] == [200, 200, 429]
    assert int(sent[2].headers["retry-after"]) > 0
    queued = await api.store.deliveries("org-a", 10)
    assert [row.event for row in queued] == ["test-created", "test-created"]
