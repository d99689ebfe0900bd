"""The read API in the chart: its own Service (and an optional Ingress) on its own port,
its auth settings from values and an existing Secret, the probes on the operations port."""

from __future__ import annotations

from typing import Any

import pytest
from helm_python import HelmRenderError, HelmValuesError

from service.settings import Settings

from .rendering import FULLNAME, render
from .scenarios import SCENARIOS

KEYS = {"api": {"enabled": True, "auth": {"apiKeys": {"existingSecret": "referral-api-keys"}}}}
JWT = {"issuer": "https://issuer.example/v2.0", "audience": "api://r", "jwksUrl": "https://i/k"}


def test_the_api_is_off_by_default_and_then_has_no_service_port_or_settings() -> None:
    rendered = render()
    assert [s["metadata"]["name"] for s in rendered.all("Service")] == [FULLNAME]
    assert [p["name"] for p in rendered.container()["ports"]] == ["http"]
    api_settings = {name for name in rendered.env() if name.startswith("REFERRALS_API_")}
    assert api_settings == {"REFERRALS_API_ENABLED"}
    assert rendered.env()["REFERRALS_API_ENABLED"] == "false"


def test_the_api_has_a_service_of_its_own_on_its_own_port() -> None:
    rendered = render(KEYS)
    service = rendered.named("Service", f"{FULLNAME}-api")
    assert service["spec"]["ports"] == [
        {"name": "api", "port": 8090, "targetPort": "api", "protocol": "TCP"}
    ]
    ports = {p["name"]: p["containerPort"] for p in rendered.container()["ports"]}
    assert ports == {"http": 8080, "api": 8090}
    env = rendered.env()
    assert (env["REFERRALS_API_HOST"], env["REFERRALS_API_PORT"]) == ("0.0.0.0", "8090")
    assert env["REFERRALS_API_FORWARDED_ALLOW_IPS"] == "*"


def test_the_probes_stay_on_the_operations_port() -> None:
    container = render(KEYS).container()
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"


def test_api_keys_come_from_the_existing_secret_mounted_read_only() -> None:
    rendered = render(KEYS)
    volume = next(v for v in rendered.workload()["volumes"] if v["name"] == "api-keys")
    assert volume["secret"]["secretName"] == "referral-api-keys"
    mount = next(m for m in rendered.container()["volumeMounts"] if m["name"] == "api-keys")
    assert mount["readOnly"] is True
    path = rendered.env()["REFERRALS_API_KEYS_FILE"]
    assert path == "/etc/referrals/api-keys/api-keys.json"
    assert path.startswith(mount["mountPath"])


def test_jwt_settings_reach_the_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    public = {"publicUrl": "https://referrals.example", "auth": {"jwt": JWT}}
    env = render({"api": {"enabled": True, **public}}).env()
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"REFERRALS_{name.upper()}", raising=False)
    for name, value in env.items():
        if name.startswith("REFERRALS_API_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.api_jwt_issuer, settings.api_jwt_audience) == (JWT["issuer"], JWT["audience"])
    assert settings.api_jwks_url == JWT["jwksUrl"]
    assert (settings.api_tenant_claim, settings.api_port) == ("tid", 8090)
    assert (settings.api_jwks_refresh_seconds, settings.api_jwks_timeout_seconds) == (300, 3)
    assert settings.api_public_url == "https://referrals.example"


def test_the_ingress_routes_only_the_api_to_its_service() -> None:
    ingress = render_scenario("read-api-with-jwt-keys-ingress-and-network-policy").one("Ingress")
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "referrals.example.com"
    paths = rule["http"]["paths"]
    # The reads and writes, a write's status URL (a 202's Location), webhook registration.
    assert [p["path"] for p in paths] == [
        "/v1.0/engagements/referrals",
        "/v1.0/engagements/referralOperations",
        "/webhooks/v1/registration",
    ]
    for path in paths:
        assert path["pathType"] == "Prefix"
        assert path["backend"]["service"] == {"name": f"{FULLNAME}-api", "port": {"name": "api"}}
    assert ingress["spec"]["tls"][0]["secretName"] == "referrals-tls"


def test_the_network_policy_opens_the_api_port_to_its_peers() -> None:
    rendered = render_scenario("read-api-with-jwt-keys-ingress-and-network-policy")
    policy = rendered.named("NetworkPolicy", f"{FULLNAME}-api")  # the read tier's pods
    rule = next(r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == "api")
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"team": "crm"}}}]
    consumer = rendered.named("NetworkPolicy", FULLNAME)
    assert [r["ports"][0]["port"] for r in consumer["spec"]["ingress"]] == ["http"]


def render_scenario(name: str) -> Any:
    from .rendering import render_values

    return render_values(SCENARIOS[name])


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"api": {"enabled": True}}, "api.enabled needs authentication"),
        ({"api": {"enabled": True, "auth": {"jwt": {"issuer": "https://i"}}}}, "together"),
        ({**KEYS, "api": {**KEYS["api"], "containerPort": 8080}}, "must differ"),
        ({"api": {"ingress": {"enabled": True, "host": "x.example"}}}, "needs api.enabled"),
        ({**KEYS, "api": {**KEYS["api"], "ingress": {"enabled": True}}}, "api.ingress.host"),
    ],
)
def test_an_api_without_what_it_needs_fails_to_render(values: Any, problem: str) -> None:
    with pytest.raises(HelmRenderError, match=problem):
        render(values)


@pytest.mark.parametrize(
    "values",
    [
        {"api": {"enabld": True}},
        {"api": {"containerPort": 0}},
        {"api": {"auth": {"jwt": {"jwksUrl": "file:///keys"}}}},
        {"api": {"service": {"type": "ExternalName"}}},
        {"api": {"publicUrl": "https://referrals.example/?next=elsewhere"}},
        {"api": {"auth": {"jwt": {"jwksTimeoutSeconds": 0}}}},
    ],
)
def test_the_schema_refuses_bad_api_values(values: Any) -> None:
    with pytest.raises(HelmValuesError):
        render(values)
