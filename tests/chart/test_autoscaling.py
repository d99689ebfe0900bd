"""HPA and KEDA are exclusive, own spec.replicas, and never outgrow the partition count."""

from __future__ import annotations

import re
from typing import Any

import pytest
from helm_python import HelmRenderError

from .rendering import FULLNAME, render

POSTGRESQL: dict[str, Any] = {
    "store": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}},
}


def _render(autoscaling: dict[str, Any], **more: Any) -> Any:
    return render({**POSTGRESQL, "autoscaling": autoscaling, **more})


def test_keda_scales_on_consumer_group_lag_of_the_commands_topic() -> None:
    rendered = _render({"keda": {"enabled": True, "maxReplicaCount": 4, "lagThreshold": 50}})
    scaled = rendered.one("ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == FULLNAME
    assert scaled["spec"]["maxReplicaCount"] == 4
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"] == {
        "bootstrapServers": "kafka.kafka.svc:9092",
        "consumerGroup": "referral-lifecycle",
        "topic": "referral-commands",
        "lagThreshold": "50",
        "activationLagThreshold": "0",
        "offsetResetPolicy": "earliest",
        "allowIdleConsumers": "false",
    }
    assert "authenticationRef" not in trigger
    assert "TriggerAuthentication" not in rendered.kinds
    assert "HorizontalPodAutoscaler" not in rendered.kinds


@pytest.mark.parametrize(
    "autoscaling",
    [{"keda": {"enabled": True}}, {"hpa": {"enabled": True}}],
    ids=["keda", "hpa"],
)
def test_an_autoscaler_owns_the_replica_count(autoscaling: dict[str, Any]) -> None:
    deployment = _render(autoscaling, replicaCount=3).one("Deployment")
    assert "replicas" not in deployment["spec"]


def test_keda_max_replicas_above_the_partition_count_fails_to_render() -> None:
    with pytest.raises(
        HelmRenderError, match=re.escape("maxReplicaCount=5 exceeds kafka.topics.partitions=4")
    ):
        _render({"keda": {"enabled": True, "maxReplicaCount": 5}})


def test_keda_max_replicas_equal_to_the_partition_count_renders() -> None:
    rendered = _render(
        {"keda": {"enabled": True, "maxReplicaCount": 12}},
        kafka={"bootstrapServers": "k:9092", "topics": {"partitions": 12}},
    )
    assert rendered.one("ScaledObject")["spec"]["maxReplicaCount"] == 12


def test_hpa_max_replicas_above_the_partition_count_fails_to_render() -> None:
    with pytest.raises(
        HelmRenderError, match=re.escape("maxReplicas=8 exceeds kafka.topics.partitions=4")
    ):
        _render({"hpa": {"enabled": True, "maxReplicas": 8}})


def test_hpa_and_keda_together_fail_to_render() -> None:
    with pytest.raises(HelmRenderError, match="mutually exclusive"):
        _render({"hpa": {"enabled": True}, "keda": {"enabled": True}})


def test_keda_min_above_max_fails_to_render() -> None:
    with pytest.raises(HelmRenderError, match="minReplicaCount must not exceed"):
        _render({"keda": {"enabled": True, "minReplicaCount": 4, "maxReplicaCount": 2}})


def test_hpa_without_any_target_fails_to_render() -> None:
    with pytest.raises(HelmRenderError, match="targetCPUUtilizationPercentage"):
        _render({"hpa": {"enabled": True, "targetCPUUtilizationPercentage": None}})


def test_hpa_targets_cpu_and_memory_utilisation() -> None:
    hpa = _render(
        {"hpa": {"enabled": True, "minReplicas": 2, "targetMemoryUtilizationPercentage": 80}}
    ).one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == 4
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }


def test_keda_with_sasl_ssl_authenticates_from_the_services_secrets() -> None:
    rendered = _render(
        {"keda": {"enabled": True}},
        kafka={
            "bootstrapServers": "kafka:9093",
            "securityProtocol": "SASL_SSL",
            "sasl": {"mechanism": "SCRAM-SHA-256", "existingSecret": "kafka-user"},
            "tls": {"existingSecret": "kafka-tls", "certKey": "tls.crt", "keyKey": "tls.key"},
        },
    )
    trigger = rendered.one("ScaledObject")["spec"]["triggers"][0]
    assert trigger["metadata"]["sasl"] == "scram_sha256"
    assert trigger["metadata"]["tls"] == "enable"
    auth = rendered.one("TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    refs = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    assert refs == {
        "username": ("kafka-user", "username"),
        "password": ("kafka-user", "password"),
        "ca": ("kafka-tls", "ca.crt"),
        "cert": ("kafka-tls", "tls.crt"),
        "key": ("kafka-tls", "tls.key"),
    }
    assert rendered.secret_files()["REFERRALS_KAFKA_SASL_PASSWORD"] == {
        "name": "kafka-user",
        "key": "password",
    }


@pytest.mark.parametrize(
    ("mechanism", "keda_name"),
    [("PLAIN", "plaintext"), ("SCRAM-SHA-256", "scram_sha256"), ("SCRAM-SHA-512", "scram_sha512")],
)
def test_keda_uses_its_own_names_for_sasl_mechanisms(mechanism: str, keda_name: str) -> None:
    rendered = _render(
        {"keda": {"enabled": True}},
        kafka={
            "bootstrapServers": "kafka:9092",
            "securityProtocol": "SASL_PLAINTEXT",
            "sasl": {"mechanism": mechanism, "existingSecret": "kafka-user"},
        },
    )
    metadata = rendered.one("ScaledObject")["spec"]["triggers"][0]["metadata"]
    assert metadata["sasl"] == keda_name
    assert "tls" not in metadata


def test_pdb_exists_once_an_autoscaler_can_add_replicas() -> None:
    rendered = _render({"keda": {"enabled": True, "minReplicaCount": 1}})
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
