"""Multi-tenant mode and the expiry secret as chart values, as the service reads them."""

from __future__ import annotations

from typing import Any

import pytest
from helm_python import Chart, HelmRenderError, HelmValuesError

from service.settings import Settings

from .rendering import BASE_VALUES, CHART_DIR, deep_merge, render

TENANTS = {"org-contoso": "referral-commands-org-contoso", "org-fabrikam": "commands.fabrikam"}
POSTGRESQL: dict[str, Any] = {
    "store": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}},
}


def _tenants(tenants: dict[str, str], **more: Any) -> Any:
    return render({"kafka": {"topics": {"tenants": tenants}}, **more})


def test_tenant_topics_reach_the_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _tenants(TENANTS).env()
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"REFERRALS_{name.upper()}", raising=False)
    monkeypatch.setenv("REFERRALS_TENANT_TOPICS", env["REFERRALS_TENANT_TOPICS"])

    settings = Settings()

    assert settings.tenant_topics == TENANTS
    assert settings.command_topics == ["referral-commands", *TENANTS.values()]


def test_single_tenant_mode_sets_no_tenant_topics() -> None:
    assert "REFERRALS_TENANT_TOPICS" not in render().env()


@pytest.mark.parametrize(
    "topic",
    ["referral-commands", "referral-events", "referral-rejections", "referral-commands-dlq"],
)
def test_a_tenant_topic_shared_with_another_topic_fails_to_render(topic: str) -> None:
    with pytest.raises(HelmRenderError, match="must be its own"):
        _tenants({"org-contoso": topic})


def test_two_tenants_on_one_topic_fail_to_render() -> None:
    with pytest.raises(HelmRenderError, match="must be its own"):
        _tenants({"org-contoso": "shared", "org-fabrikam": "shared"})


@pytest.mark.parametrize(
    ("tenants", "where"),
    [
        ({"org-contoso": "not a topic"}, "/kafka/topics/tenants/org-contoso"),
        ({"": "commands-x"}, "invalid propertyName ''"),
        ({"org\u0001x": "commands-x"}, "invalid propertyName 'org"),
    ],
)
def test_schema_refuses_tenant_topics_the_service_would(
    tenants: dict[str, str], where: str
) -> None:
    values = deep_merge(BASE_VALUES, {"kafka": {"topics": {"tenants": tenants}}})
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError, match=where):
        chart.validate_schema(values)


def test_keda_counts_the_lag_of_every_topic_of_the_group_in_multi_tenant_mode() -> None:
    autoscaling = {"keda": {"enabled": True}}
    single = render({**POSTGRESQL, "autoscaling": autoscaling}).one("ScaledObject")
    multi = _tenants(TENANTS, **POSTGRESQL, autoscaling=autoscaling).one("ScaledObject")

    assert single["spec"]["triggers"][0]["metadata"]["topic"] == "referral-commands"
    assert "topic" not in multi["spec"]["triggers"][0]["metadata"]


def test_the_expiry_secret_comes_from_an_existing_secret_only_when_named() -> None:
    plain = render()
    assert "REFERRALS_EXPIRY_SECRET" not in plain.env()
    assert "REFERRALS_EXPIRY_SECRET" not in plain.secret_files()

    named = render({"config": {"expirySecret": {"existingSecret": "referrals-expiry"}}})

    assert "REFERRALS_EXPIRY_SECRET" not in named.env()  # a file, never an environment variable
    assert named.secret_files()["REFERRALS_EXPIRY_SECRET"] == {
        "name": "referrals-expiry",
        "key": "expiry-secret",
    }
