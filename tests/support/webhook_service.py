"""The service configured for webhook tests: API keys that may write, local receivers
allowed, fast polls and retries; and registering a receiver over the API."""

import json
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from service.broker import EmbeddedBroker, free_port
from service.settings import Settings
from tests.support.services import isolated_settings

KEYS = {
    "key-a": {"tenant": "org-a", "write": True},
    "key-b": {"tenant": "org-b", "write": True},
    "key-a-read": "org-a",
}
EVENTS = ["referral-created", "referral-updated"]


def webhook_settings(broker: EmbeddedBroker, database: Path, **overrides: Any) -> Settings:
    return isolated_settings(
        broker.bootstrap_servers,
        database,
        api_port=free_port(),
        api_keys=SecretStr(json.dumps(KEYS)),
        api_public_url="https://referrals.example",
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
        webhook_poll_seconds=0.05,
        webhook_retry_initial_seconds=0.05,
        webhook_retry_max_seconds=0.2,
        **overrides,
    )


async def register(settings: Settings, key: str, url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(
            f"http://127.0.0.1:{settings.api_port}/webhooks/v1/registration",
            headers={"Authorization": f"Bearer {key}"},
            json={"WebhookUrl": url, "WebhookEvents": EVENTS},
        )
