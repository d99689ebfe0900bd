"""The read API's tier: on PostgreSQL a Deployment of its own running `referrals api` (ready
on the store alone, its own Service, HPA, PDB, NetworkPolicy and monitoring, never scaled by
the consumer's KEDA object); beside the consumer as before with SQLite, which refuses a
separate tier. Every value set renders with either tier and passes the strict schemas."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from helm_python import HelmRenderError, HelmValuesError

from .custom_resources import CHECKS, selects
from .rendering import (
    API_FULLNAME,
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    Rendered,
    deep_merge,
    render,
    render_values,
)
from .scenarios import SCENARIOS

KUBERNETES_VERSIONS = ["1.29.0", "1.33.0"]
KEYS = {"auth": {"apiKeys": {"existingSecret": "referral-api-keys"}}}
POSTGRESQL = {"store": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}}}
SQLITE_REFUSAL = "one SQLite file cannot be shared across pods"


def _with_api(values: dict[str, Any], tier: str = "auto") -> dict[str, Any]:
    return deep_merge(values, {"api": {"enabled": True, "tier": tier, **KEYS}})


def _on_sqlite(values: dict[str, Any]) -> bool:
    return values.get("store", {}).get("mode", "sqlite") == "sqlite"


def _pod_labels(rendered: Rendered, name: str) -> dict[str, str]:
    template = rendered.named("Deployment", name)["spec"]["template"]
    return dict(template["metadata"]["labels"])


def _validate_strictly(rendered: Rendered) -> None:
    for manifest in rendered:
        if manifest.kind in CHECKS:
            CHECKS[manifest.kind](manifest.doc, rendered)
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(manifest.doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(map(str, error.path))
                pytest.fail(f"{manifest.kind}/{manifest.name} on {version}: {path}: {error}")


@pytest.mark.parametrize("tier", ["separate", "together"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_value_set_renders_with_either_tier(scenario: str, tier: str) -> None:
    values = _with_api(SCENARIOS[scenario], tier)
    if tier == "separate" and _on_sqlite(values):
        with pytest.raises(HelmRenderError, match=SQLITE_REFUSAL):
            render_values(values)
        return
    rendered = render_values(values)
    _validate_strictly(rendered)
    if tier == "separate":
        _assert_a_tier_of_its_own(rendered, values)
    else:
        _assert_beside_the_consumer(rendered)


def _assert_a_tier_of_its_own(rendered: Rendered, values: dict[str, Any]) -> None:
    api, consumer = rendered.api_container(), rendered.container()
    assert api["args"] == ["api"]
    if values.get("readinessProbe", {}).get("enabled", True):
        assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert rendered.env()["REFERRALS_API_ENABLED"] == "false"
    assert [port["name"] for port in consumer["ports"]] == ["http"]
    api_pods, consumer_pods = _pod_labels(rendered, API_FULLNAME), _pod_labels(rendered, FULLNAME)
    service = rendered.named("Service", f"{FULLNAME}-api")["spec"]["selector"]
    assert selects({"matchLabels": service}, api_pods)
    assert not selects({"matchLabels": service}, consumer_pods)
    for name, others in ((FULLNAME, api_pods), (API_FULLNAME, consumer_pods)):
        selector = rendered.named("Deployment", name)["spec"]["selector"]
        assert not selects(selector, others), f"{name} selects the other tier's pods"
    for scaled in rendered.all("ScaledObject"):
        assert scaled["spec"]["scaleTargetRef"]["name"] == FULLNAME
    hpa = rendered.named("HorizontalPodAutoscaler", API_FULLNAME)
    assert hpa["spec"]["scaleTargetRef"]["name"] == API_FULLNAME
    pdb = rendered.named("PodDisruptionBudget", API_FULLNAME)
    assert selects(pdb["spec"]["selector"], api_pods)
    assert not selects(pdb["spec"]["selector"], consumer_pods)
    assert api["resources"]["requests"]
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    _assert_only_the_database_url_and_the_kafka_credentials_are_mounted(rendered, values)
    _assert_the_network_policy_lets_it_reach_kafka(rendered, values)


def _assert_only_the_database_url_and_the_kafka_credentials_are_mounted(
    rendered: Rendered, values: dict[str, Any]
) -> None:
    """The write API produces commands: the Kafka client's secrets, never the expiry's."""
    [secrets] = [v for v in rendered.api_workload()["volumes"] if v["name"] == "secrets"]
    files = [
        item["path"]
        for source in secrets["projected"]["sources"]
        for item in source["secret"]["items"]
    ]
    consumer = [v for v in rendered.workload()["volumes"] if v["name"] == "secrets"]
    consumer_files = [
        item["path"]
        for volume in consumer
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    ]
    assert files[0] == "REFERRALS_DATABASE_URL"
    assert files == [name for name in consumer_files if name != "REFERRALS_EXPIRY_SECRET"]
    assert rendered.api_env()["REFERRALS_SECRETS_DIR"] == "/etc/referrals/secrets"
    consumer_tls = [m for m in rendered.container()["volumeMounts"] if m["name"] == "kafka-tls"]
    api_tls = [m for m in rendered.api_container()["volumeMounts"] if m["name"] == "kafka-tls"]
    assert api_tls == consumer_tls


def _assert_the_network_policy_lets_it_reach_kafka(
    rendered: Rendered, values: dict[str, Any]
) -> None:
    if not values.get("networkPolicy", {}).get("enabled"):
        return
    policy = rendered.named("NetworkPolicy", API_FULLNAME)
    assert selects(policy["spec"]["podSelector"], _pod_labels(rendered, API_FULLNAME))
    ingress = {port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]}
    assert {"http", "api"} <= ingress
    kafka_ports = set(values.get("kafka", {}).get("ports", [9092, 9093]))
    extra = values.get("networkPolicy", {}).get("egress", {}).get("extraRules", [])
    egress = [rule for rule in policy["spec"].get("egress", []) if rule not in extra]
    opened = {port["port"] for rule in egress for port in rule["ports"]}
    if values.get("networkPolicy", {}).get("egress", {}).get("enabled", True):
        assert kafka_ports <= opened


def _assert_beside_the_consumer(rendered: Rendered) -> None:
    assert [d["metadata"]["name"] for d in rendered.all("Deployment")] == [FULLNAME]
    assert [port["name"] for port in rendered.container()["ports"]] == ["http", "api"]
    assert rendered.env()["REFERRALS_API_ENABLED"] == "true"
    service = rendered.named("Service", f"{FULLNAME}-api")["spec"]["selector"]
    assert selects({"matchLabels": service}, _pod_labels(rendered, FULLNAME))
    tier_kinds = {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}
    assert not [m for m in rendered if m.kind in tier_kinds and m.name == API_FULLNAME]


@pytest.mark.parametrize(
    ("store", "deployments"),
    [({}, [FULLNAME]), (POSTGRESQL, sorted([FULLNAME, API_FULLNAME]))],
    ids=["sqlite-together", "postgresql-separate"],
)
def test_the_tier_by_default_follows_the_store(
    store: dict[str, Any], deployments: list[str]
) -> None:
    rendered = render(_with_api(store))
    assert sorted(d["metadata"]["name"] for d in rendered.all("Deployment")) == deployments


def test_sqlite_refuses_a_separate_tier_saying_why() -> None:
    with pytest.raises(HelmRenderError) as refused:
        render(_with_api({}, "separate"))
    assert "api.tier=separate needs store.mode=postgresql" in str(refused.value)
    assert SQLITE_REFUSAL in str(refused.value)


def test_keda_scaling_the_consumer_to_zero_leaves_the_read_tier_up() -> None:
    keda = {"autoscaling": {"keda": {"enabled": True, "minReplicaCount": 0}}}
    rendered = render(_with_api(deep_merge(POSTGRESQL, keda)))
    [scaled] = rendered.all("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": FULLNAME,
    }
    hpa = rendered.named("HorizontalPodAutoscaler", API_FULLNAME)["spec"]
    assert hpa["minReplicas"] >= 1
    assert "replicas" not in rendered.named("Deployment", API_FULLNAME)["spec"]


def test_fixed_replicas_without_the_autoscaler_and_no_budget_over_one_pod() -> None:
    fixed = {"api": {"autoscaling": {"enabled": False}, "replicaCount": 3}}
    rendered = render(deep_merge(_with_api(POSTGRESQL), fixed))
    assert rendered.named("Deployment", API_FULLNAME)["spec"]["replicas"] == 3
    assert rendered.all("HorizontalPodAutoscaler") == []
    single = render(deep_merge(_with_api(POSTGRESQL), {"api": {**fixed["api"], "replicaCount": 1}}))
    assert [p["metadata"]["name"] for p in single.all("PodDisruptionBudget")] == []


def test_the_notes_say_where_reads_are_served() -> None:
    assert f"deployment/{API_FULLNAME}" in render(_with_api(POSTGRESQL)).notes
    assert "in the consumer pods" in render(_with_api({})).notes


@pytest.mark.parametrize(
    "api",
    [
        {"tier": "elsewhere"},
        {"replicaCount": -1},
        {"autoscaling": {"enabled": True, "minReplicas": 0}},
        {"autoscaling": {"enabld": True}},
        {"pdb": {"maxUnavailable": "half"}},
        {"resources": {"requests": {"cpu": True}}},
    ],
)
def test_the_schema_refuses_bad_read_tier_values(api: dict[str, Any]) -> None:
    with pytest.raises(HelmValuesError):
        render(deep_merge(_with_api(POSTGRESQL), {"api": api}))


@pytest.mark.parametrize(
    "values",
    [_with_api(POSTGRESQL), _with_api(POSTGRESQL, "together"), _with_api({})],
    ids=["postgresql-separate", "postgresql-together", "sqlite-together"],
)
def test_lint_is_clean_with_the_read_api_in_either_tier(values: dict[str, Any]) -> None:
    values = deep_merge({"kafka": {"bootstrapServers": "kafka.kafka.svc:9092"}}, values)
    report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version="v1.30.0")
    assert not report["errors"], report["errors"]
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_helm_test_checks_the_read_tier_when_it_runs_apart() -> None:
    def script(values: dict[str, Any]) -> str:
        rendered = render(values)
        pod = next(m.doc for m in rendered if m.template.endswith("tests/test-connection.yaml"))
        return " ".join(pod["spec"]["containers"][0]["args"])

    read_tier = f"http://{API_FULLNAME}.apps.svc:8080"
    assert f"{read_tier}/healthz" in script(_with_api(POSTGRESQL))
    assert read_tier not in script(_with_api(POSTGRESQL, "together"))


def test_the_notes_warn_when_keda_would_take_reads_to_zero() -> None:
    keda = {"autoscaling": {"keda": {"enabled": True, "minReplicaCount": 0}}}
    together = render(_with_api(deep_merge(POSTGRESQL, keda), "together"))
    assert "reads stop with them" in together.notes
    assert "reads stop with them" not in render(_with_api(deep_merge(POSTGRESQL, keda))).notes
