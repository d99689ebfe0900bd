"""The API's writes and the webhooks in the chart: their values reach the pods' environment
and the service's settings accept them, the schema refuses bad ones, and the consumer pods
(whose dispatcher sends the notifications) may reach webhook receivers as configured while
the read tier may not."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from helm_python import HelmValuesError

from service.settings import Settings

from .rendering import API_FULLNAME, FULLNAME, Rendered, deep_merge, render, render_values
from .scenarios import SCENARIOS

KEYS = {"auth": {"apiKeys": {"existingSecret": "referral-api-keys"}}}
READ_TIER = {
    "store": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}},
    "api": {"enabled": True, **KEYS},
    "networkPolicy": {"enabled": True},
}
WEBHOOKS = {
    "retryPeriod": "PT6H",
    "retryInitialSeconds": 2.5,
    "retryMaxSeconds": 600,
    "connectTimeoutSeconds": 3,
    "readTimeoutSeconds": 20,
    "maxResponseBytes": 1024,
    "concurrencyPerEndpoint": 16,
    "pollSeconds": 0.5,
    "testEventsPerMinute": 5,
    "allowHttp": True,
    "allowPrivateTargets": True,
}
WRITES = {"writeWaitSeconds": 30, "auth": {"jwt": {"writeRole": "Referrals.Write"}}}


def _settings_from(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"REFERRALS_{name.upper()}", raising=False)
    monkeypatch.delenv("REFERRALS_SECRETS_DIR", raising=False)
    for name, value in env.items():
        # The secrets directory is the pod's mount, which this machine lacks.
        if name.startswith("REFERRALS_") and name != "REFERRALS_SECRETS_DIR":
            monkeypatch.setenv(name, value)
    return Settings()


def _webhook_rule(policy: dict[str, Any]) -> dict[str, Any] | None:
    rules = [r for r in policy["spec"].get("egress", []) if "ipBlock" in str(r.get("to"))]
    assert len(rules) <= 1, rules
    return rules[0] if rules else None


def test_the_read_tier_gets_the_write_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = render(deep_merge(READ_TIER, {"api": WRITES}))
    settings = _settings_from(rendered.api_env(), monkeypatch)
    assert settings.api_write_wait_seconds == 30
    assert settings.api_write_role == "Referrals.Write"


def test_the_write_settings_default_to_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    env = render({"api": {"enabled": True, **KEYS}}).env()  # together, on SQLite
    assert (env["REFERRALS_API_WRITE_WAIT_SECONDS"], env["REFERRALS_API_WRITE_ROLE"]) == (
        "10",
        "Referrals.ReadWrite",
    )
    defaults = Settings.model_fields
    settings = _settings_from(env, monkeypatch)
    assert settings.api_write_wait_seconds == defaults["api_write_wait_seconds"].default
    assert settings.api_write_role == defaults["api_write_role"].default


@pytest.mark.parametrize("pods", ["consumer", "read tier"])
def test_both_tiers_get_the_webhook_settings(pods: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = render({**READ_TIER, "webhooks": WEBHOOKS})
    env = rendered.env() if pods == "consumer" else rendered.api_env()
    settings = _settings_from(env, monkeypatch)
    assert settings.webhook_retry_period == timedelta(hours=6)
    assert (settings.webhook_retry_initial_seconds, settings.webhook_retry_max_seconds) == (
        2.5,
        600,
    )
    assert settings.webhook_connect_timeout_seconds == 3
    assert settings.webhook_read_timeout_seconds == 20
    assert settings.webhook_max_response_bytes == 1024
    assert settings.webhook_concurrency_per_endpoint == 16
    assert settings.webhook_poll_seconds == 0.5
    assert settings.webhook_test_events_per_minute == 5
    assert settings.webhook_allow_http is settings.webhook_allow_private_targets is True


def test_the_webhook_defaults_are_the_services_and_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings_from(render().env(), monkeypatch)
    defaults = Settings()
    for name in Settings.model_fields:
        if name.startswith("webhook_"):
            assert getattr(settings, name) == getattr(defaults, name), name
    assert settings.webhook_allow_http is settings.webhook_allow_private_targets is False


NP_WEBHOOKS = "/networkPolicy/egress/webhooks"
BAD_VALUES = {
    "write wait of zero": ({"api": {"writeWaitSeconds": 0}}, "/api/writeWaitSeconds"),
    "write wait beyond two minutes": ({"api": {"writeWaitSeconds": 121}}, "/api/writeWaitSeconds"),
    "empty write role": ({"api": {"auth": {"jwt": {"writeRole": ""}}}}, "/api/auth/jwt/writeRole"),
    "retry period not an ISO 8601 duration": (
        {"webhooks": {"retryPeriod": "24 hours"}},
        "/webhooks/retryPeriod",
    ),
    "connect timeout beyond a minute": (
        {"webhooks": {"connectTimeoutSeconds": 61}},
        "/webhooks/connectTimeoutSeconds",
    ),
    "read timeout of zero": (
        {"webhooks": {"readTimeoutSeconds": 0}},
        "/webhooks/readTimeoutSeconds",
    ),
    "negative response size": (
        {"webhooks": {"maxResponseBytes": -1}},
        "/webhooks/maxResponseBytes",
    ),
    "no concurrency": (
        {"webhooks": {"concurrencyPerEndpoint": 0}},
        "/webhooks/concurrencyPerEndpoint",
    ),
    "concurrency beyond 64": (
        {"webhooks": {"concurrencyPerEndpoint": 65}},
        "/webhooks/concurrencyPerEndpoint",
    ),
    "allow-http as a string": ({"webhooks": {"allowHttp": "yes"}}, "/webhooks/allowHttp"),
    "typo in webhooks": ({"webhooks": {"allowPrivate": True}}, "/webhooks': additional"),
    "webhook port out of range": (
        {"networkPolicy": {"egress": {"webhooks": {"ports": [0]}}}},
        f"{NP_WEBHOOKS}/ports/0",
    ),
    "webhook CIDR without a prefix": (
        {"networkPolicy": {"egress": {"webhooks": {"ipBlocks": [{"cidr": "0.0.0.0"}]}}}},
        f"{NP_WEBHOOKS}/ipBlocks/0/cidr",
    ),
    "webhook ipBlock with a peer's field": (
        {"networkPolicy": {"egress": {"webhooks": {"ipBlocks": [{"podSelector": {}}]}}}},
        f"{NP_WEBHOOKS}/ipBlocks/0",
    ),
}


@pytest.mark.parametrize(("values", "where"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_the_schema_refuses_bad_write_and_webhook_values(
    values: dict[str, Any], where: str
) -> None:
    with pytest.raises(HelmValuesError, match=re.escape(f"at '{where}")):
        render(values)


def test_consumer_pods_may_reach_receivers_on_https_outside_the_cluster() -> None:
    rendered = render(READ_TIER)
    rule = _webhook_rule(rendered.named("NetworkPolicy", FULLNAME))
    assert rule is not None
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
    blocks = {block["ipBlock"]["cidr"]: block["ipBlock"]["except"] for block in rule["to"]}
    assert set(blocks) == {"0.0.0.0/0", "::/0"}
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(blocks["0.0.0.0/0"])
    assert "fc00::/7" in blocks["::/0"]
    # The read tier registers URLs (DNS only) and never sends.
    assert _webhook_rule(rendered.named("NetworkPolicy", API_FULLNAME)) is None


def test_the_webhook_egress_renders_as_configured() -> None:
    rendered = render_values(SCENARIOS["webhooks-for-development-to-receivers-inside-the-network"])
    rule = _webhook_rule(rendered.named("NetworkPolicy", FULLNAME))
    assert rule == {
        "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}],
        "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
    }
    assert "WARNING: webhooks.allowHttp=true" in rendered.notes


def test_the_webhook_egress_can_be_left_to_extra_rules() -> None:
    egress = {"webhooks": {"enabled": False}}
    rendered: Rendered = render({**READ_TIER, "networkPolicy": {"enabled": True, "egress": egress}})
    assert _webhook_rule(rendered.named("NetworkPolicy", FULLNAME)) is None
    assert "WARNING: webhooks" not in rendered.notes
