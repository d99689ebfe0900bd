"""helm lint is clean and values.schema.json refuses bad values before anything renders."""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import pytest
from helm_python import Chart, HelmValuesError

from .rendering import BASE_VALUES, CHART_DIR, CI_VALUES_FILES, NAMESPACE, ci_values, deep_merge


def _lint_problems(values: dict[str, Any] | None, kube_version: str) -> list[dict[str, Any]]:
    report = helm.lint(
        CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version=kube_version
    )
    assert not report["errors"], report["errors"]
    return [message for message in report["messages"] if message["severity"] >= 2]


@pytest.mark.parametrize("kube_version", ["v1.25.0", "v1.29.0", "v1.33.0"])
def test_lint_is_clean_with_default_values(kube_version: str) -> None:
    assert _lint_problems(None, kube_version) == []


@pytest.mark.parametrize("values_file", CI_VALUES_FILES, ids=lambda path: path.stem)
def test_lint_is_clean_for_every_ci_scenario(values_file) -> None:
    assert _lint_problems(ci_values(values_file), "v1.30.0") == []


def test_chart_metadata_is_complete() -> None:
    with Chart.load(CHART_DIR) as chart:
        metadata = chart.metadata
    assert metadata["apiVersion"] == "v2"
    assert metadata["type"] == "application"
    assert metadata["kubeVersion"] == ">=1.25.0-0"
    assert metadata["appVersion"] == "0.1.0"
    assert metadata["icon"].startswith("https://")
    assert metadata["maintainers"]
    assert metadata["sources"]


def test_schema_refuses_unknown_keys_at_top_level_and_in_small_objects() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    for key in ("image", "store", "kafka", "config", "webhooks", "pdb", "autoscaling", "metrics"):
        assert schema["properties"][key]["additionalProperties"] is False, key


def test_schema_accepts_the_defaults_and_every_ci_scenario() -> None:
    with Chart.load(CHART_DIR) as chart:
        chart.validate_schema(BASE_VALUES)
        for values_file in CI_VALUES_FILES:
            chart.validate_schema(ci_values(values_file))


BAD_VALUES = {
    "typo at top level": ({"replicaCounts": 2}, "replicaCounts"),
    "typo in a small object": ({"kafka": {"bootstrapServer": "k:9092"}}, "bootstrapServer"),
    "replicas as a string": ({"replicaCount": "three"}, "/replicaCount"),
    "negative replicas": ({"replicaCount": -1}, "/replicaCount"),
    "unknown store mode": ({"store": {"mode": "mysql"}}, "/store/mode"),
    "unknown pull policy": ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    "unknown security protocol": (
        {"kafka": {"securityProtocol": "TLS"}},
        "/kafka/securityProtocol",
    ),
    "unknown sasl mechanism": (
        {"kafka": {"sasl": {"mechanism": "GSSAPI"}}},
        "/kafka/sasl/mechanism",
    ),
    "bootstrap servers without port": (
        {"kafka": {"bootstrapServers": "kafka"}},
        "/kafka/bootstrapServers",
    ),
    "zero partitions": ({"kafka": {"topics": {"partitions": 0}}}, "/kafka/topics/partitions"),
    "json depth beyond the exact parser": (
        {"config": {"limits": {"jsonDepth": 300}}},
        "/config/limits/jsonDepth",
    ),
    "typo in the limits": ({"config": {"limits": {"maxDepth": 10}}}, "maxDepth"),
    "no poison attempt": ({"config": {"poisonAttempts": 0}}, "/config/poisonAttempts"),
    "invalid topic name": (
        {"kafka": {"topics": {"commands": "bad topic"}}},
        "/kafka/topics/commands",
    ),
    "scrape interval not a duration": (
        {"metrics": {"serviceMonitor": {"interval": "soon"}}},
        "/metrics/serviceMonitor/interval",
    ),
    "alert duration not a duration": (
        {"metrics": {"prometheusRule": {"thresholds": {"stalledFor": "10 minutes"}}}},
        "/metrics/prometheusRule/thresholds/stalledFor",
    ),
    "expiry not an ISO 8601 duration": (
        {"config": {"defaultExpiry": "14 days"}},
        "/config/defaultExpiry",
    ),
    "extra env outside the REFERRALS_ prefix": (
        {"config": {"extraEnv": {"PATH": "/tmp"}}},
        "'PATH' does not match pattern",
    ),
    "rejection ratio above one": (
        {"metrics": {"prometheusRule": {"thresholds": {"rejectionRatio": 1.5}}}},
        "/metrics/prometheusRule/thresholds/rejectionRatio",
    ),
    "privileged container port": ({"containerPort": 80}, "/containerPort"),
    "keda lag threshold of zero": (
        {"autoscaling": {"keda": {"lagThreshold": 0}}},
        "/autoscaling/keda/lagThreshold",
    ),
    "keda fallback without replicas": (
        {"autoscaling": {"keda": {"fallback": {"failureThreshold": 3}}}},
        "/autoscaling/keda/fallback",
    ),
    "unknown offset reset policy": (
        {"autoscaling": {"keda": {"offsetResetPolicy": "newest"}}},
        "/autoscaling/keda/offsetResetPolicy",
    ),
    "image digest that is not sha256": ({"image": {"digest": "latest"}}, "/image/digest"),
    "pdb with a bad percentage": ({"pdb": {"maxUnavailable": "50 %"}}, "/pdb/maxUnavailable"),
    "non-string pod annotation": ({"podAnnotations": {"a": 1}}, "/podAnnotations/a"),
}


@pytest.mark.parametrize(("values", "where"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_schema_refuses_bad_values(values: dict[str, Any], where: str) -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError, match=where):
        chart.validate_schema(deep_merge(BASE_VALUES, values))


def test_render_refuses_values_the_schema_refuses() -> None:
    with Chart.load(CHART_DIR) as chart, pytest.raises(HelmValuesError, match="/store/mode"):
        chart.render(deep_merge(BASE_VALUES, {"store": {"mode": "mysql"}}), name="demo")
