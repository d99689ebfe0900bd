"""sqlite mode runs one replica on a PVC; postgresql mode scales and reads its URL from a Secret."""

from __future__ import annotations

import base64
import re

import pytest
from helm_python import HelmRenderError

from .rendering import FULLNAME, render


def test_sqlite_mode_runs_one_replica_on_a_pvc_with_recreate_rollouts() -> None:
    rendered = render()
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = rendered.one("PersistentVolumeClaim")
    assert claim["metadata"]["name"] == f"{FULLNAME}-data"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {v["name"]: v for v in rendered.workload()["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == f"{FULLNAME}-data"
    mounts = {m["name"]: m["mountPath"] for m in rendered.container()["volumeMounts"]}
    assert mounts["data"] == "/data"
    assert rendered.env()["REFERRALS_DATABASE_URL"] == "sqlite:////data/referrals.db"


def test_sqlite_mode_ignores_a_rolling_update_strategy() -> None:
    rendered = render({"updateStrategy": {"type": "RollingUpdate"}})
    assert rendered.one("Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_sqlite_mode_with_an_existing_claim_creates_no_pvc() -> None:
    rendered = render({"store": {"sqlite": {"persistence": {"existingClaim": "mine"}}}})
    assert "PersistentVolumeClaim" not in rendered.kinds
    volumes = {v["name"]: v for v in rendered.workload()["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "mine"


def test_sqlite_mode_without_persistence_uses_an_empty_dir_and_warns() -> None:
    rendered = render({"store": {"sqlite": {"persistence": {"enabled": False}}}})
    assert "PersistentVolumeClaim" not in rendered.kinds
    volumes = {v["name"]: v for v in rendered.workload()["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert "WARNING: store.sqlite.persistence.enabled=false" in rendered.notes


def test_sqlite_mode_with_two_replicas_fails_to_render() -> None:
    with pytest.raises(HelmRenderError, match=r"exactly one replica.*replicaCount=2"):
        render({"replicaCount": 2})


@pytest.mark.parametrize("autoscaler", ["hpa", "keda"])
def test_sqlite_mode_refuses_autoscaling(autoscaler: str) -> None:
    with pytest.raises(HelmRenderError, match="cannot autoscale"):
        render({"autoscaling": {autoscaler: {"enabled": True}}})


def test_sqlite_mode_has_no_pdb() -> None:
    assert "PodDisruptionBudget" not in render().kinds


def test_postgresql_mode_reads_the_database_url_from_the_existing_secret() -> None:
    rendered = render(
        {
            "store": {
                "mode": "postgresql",
                "postgresql": {"existingSecret": "db", "existingSecretKey": "url"},
            },
            "replicaCount": 3,
        }
    )
    assert rendered.one("Deployment")["spec"]["replicas"] == 3
    assert rendered.one("Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"
    assert rendered.secret_files()["REFERRALS_DATABASE_URL"] == {"name": "db", "key": "url"}
    assert "REFERRALS_DATABASE_URL" not in rendered.env()
    assert "Secret" not in rendered.kinds
    assert "PersistentVolumeClaim" not in rendered.kinds
    mounts = {m["mountPath"] for m in rendered.container()["volumeMounts"]}
    assert "/data" not in mounts
    assert rendered.one("PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": "referral-service",
                "app.kubernetes.io/instance": "demo",
            }
        },
    }


def test_postgresql_mode_without_a_database_url_fails_to_render() -> None:
    with pytest.raises(HelmRenderError, match=re.escape("store.postgresql.existingSecret")):
        render({"store": {"mode": "postgresql"}})


def test_postgresql_plaintext_url_falls_back_to_a_chart_secret_and_warns() -> None:
    url = "postgresql://referrals:s3cret@db:5432/referrals"
    rendered = render({"store": {"mode": "postgresql", "postgresql": {"url": url}}})
    secret = rendered.named("Secret", f"{FULLNAME}-secrets")
    assert base64.b64decode(secret["data"]["database-url"]).decode() == url
    assert rendered.secret_files()["REFERRALS_DATABASE_URL"] == {
        "name": secret["metadata"]["name"],
        "key": "database-url",
    }
    assert "s3cret" not in str(rendered.named("ConfigMap", FULLNAME))
    assert "WARNING: plaintext credentials" in rendered.notes
    pod_annotations = rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" in pod_annotations


def test_pdb_min_available_replaces_max_unavailable() -> None:
    rendered = render(
        {
            "store": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}},
            "replicaCount": 2,
            "pdb": {"minAvailable": 1},
        }
    )
    spec = rendered.one("PodDisruptionBudget")["spec"]
    assert spec["minAvailable"] == 1
    assert "maxUnavailable" not in spec


def test_a_pdb_without_min_available_or_max_unavailable_fails_to_render() -> None:
    with pytest.raises(HelmRenderError, match=re.escape("pdb.minAvailable or pdb.maxUnavailable")):
        render({"pdb": {"maxUnavailable": ""}})
