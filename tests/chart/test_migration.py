"""The schema is migrated once per release, not in every pod: in postgresql mode a
pre-install/pre-upgrade hook Job runs ``referrals migrate`` with the workload's image,
hardening and database Secret, and the pods are told not to migrate; in sqlite mode the
single pod migrates its own file."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings

from .rendering import FULLNAME, Rendered, render

JOB = f"{FULLNAME}-migrate"
POSTGRESQL: dict[str, Any] = {
    "store": {
        "mode": "postgresql",
        "postgresql": {"existingSecret": "db", "existingSecretKey": "url"},
    }
}
HOOK_EVENTS = "pre-install,pre-upgrade"


def _job(rendered: Rendered) -> dict[str, Any]:
    return rendered.named("Job", JOB)


def _pod(rendered: Rendered) -> dict[str, Any]:
    return dict(_job(rendered)["spec"]["template"]["spec"])


def _url_source(rendered: Rendered) -> dict[str, str]:
    """The Secret and key the Job's REFERRALS_DATABASE_URL file comes from."""
    volume = next(v for v in _pod(rendered)["volumes"] if v["name"] == "secrets")
    (item,) = volume["secret"]["items"]
    assert item["path"] == "REFERRALS_DATABASE_URL"
    return {"name": volume["secret"]["secretName"], "key": item["key"]}


def test_sqlite_mode_has_no_job_and_its_pod_migrates_its_own_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered = render()
    assert "Job" not in rendered.kinds
    assert "REFERRALS_DATABASE_MIGRATE" not in rendered.env()
    monkeypatch.delenv("REFERRALS_DATABASE_MIGRATE", raising=False)
    assert Settings().database_migrate is True


def test_postgresql_mode_migrates_in_a_hook_job_and_the_pods_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered = render(POSTGRESQL)
    job = _job(rendered)
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == HOOK_EVENTS
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["activeDeadlineSeconds"] == 1800
    (container,) = _pod(rendered)["containers"]
    assert container["args"] == ["migrate", "--wait", "60"]
    assert rendered.env()["REFERRALS_DATABASE_MIGRATE"] == "false"
    monkeypatch.setenv("REFERRALS_DATABASE_MIGRATE", rendered.env()["REFERRALS_DATABASE_MIGRATE"])
    assert Settings().database_migrate is False


def test_the_job_runs_as_the_workload_does_with_its_database_secret() -> None:
    rendered = render({**POSTGRESQL, "image": {"digest": "sha256:" + "b" * 64}})
    pod, workload = _pod(rendered), rendered.workload()
    (container,) = pod["containers"]
    service = rendered.container()
    assert container["image"] == service["image"]
    assert container["securityContext"] == service["securityContext"]
    assert pod["securityContext"] == workload["securityContext"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    assert _url_source(rendered) == rendered.secret_files()["REFERRALS_DATABASE_URL"]
    assert _url_source(rendered) == {"name": "db", "key": "url"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    env = {var["name"]: var["value"] for var in container["env"]}
    assert mounts["secrets"]["mountPath"] == env["REFERRALS_SECRETS_DIR"]
    assert mounts["secrets"]["readOnly"] is True


def test_the_job_reads_the_settings_it_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    timeouts = {"connectSeconds": 4, "migrationSeconds": 1200}
    rendered = render(
        {
            "store": {
                "mode": "postgresql",
                "postgresql": {"existingSecret": "db", "timeouts": timeouts},
            }
        }
    )
    (container,) = _pod(rendered)["containers"]
    url = "postgresql://owner:pw@db:5432/referrals"
    (tmp_path / "REFERRALS_DATABASE_URL").write_text(url + "\n")
    for var in container["env"]:
        monkeypatch.setenv(var["name"], var["value"])
    monkeypatch.setenv("REFERRALS_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("REFERRALS_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.database_url.get_secret_value() == url
    assert settings.database_connect_timeout_seconds == 4
    assert settings.database_migration_timeout_seconds == 1200


def test_a_plaintext_url_reaches_the_job_through_a_hook_secret_made_before_it() -> None:
    url = "postgresql://owner:s3cret@db:5432/referrals"
    rendered = render({"store": {"mode": "postgresql", "postgresql": {"url": url}}})
    secret = rendered.named("Secret", JOB)
    assert base64.b64decode(secret["data"]["database-url"]).decode() == url
    hooks = secret["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == HOOK_EVENTS
    job_weight = int(_job(rendered)["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert int(hooks["helm.sh/hook-weight"]) < job_weight
    assert _url_source(rendered) == {"name": JOB, "key": "database-url"}


def test_the_job_may_connect_as_another_role_than_the_pods() -> None:
    own = {"existingSecret": "db-owner", "existingSecretKey": "owner-url"}
    rendered = render(
        {"store": {"mode": "postgresql", "postgresql": {"existingSecret": "db", "migration": own}}}
    )
    assert _url_source(rendered) == {"name": "db-owner", "key": "owner-url"}
    assert rendered.secret_files()["REFERRALS_DATABASE_URL"]["name"] == "db"
    assert [s["metadata"]["name"] for s in rendered.all("Secret")] == []


def test_without_the_job_every_pod_migrates() -> None:
    off = {
        "store": {
            "mode": "postgresql",
            "postgresql": {"existingSecret": "db", "migration": {"enabled": False}},
        }
    }
    rendered = render(off)
    assert "Job" not in rendered.kinds
    assert "REFERRALS_DATABASE_MIGRATE" not in rendered.env()


def test_the_job_pod_is_selected_by_no_service_budget_or_policy() -> None:
    rendered = render({**POSTGRESQL, "replicaCount": 2, "networkPolicy": {"enabled": True}})
    labels = _job(rendered)["spec"]["template"]["metadata"]["labels"]
    selectors = [s["spec"]["selector"] for s in rendered.all("Service")]
    selectors += [p["spec"]["selector"]["matchLabels"] for p in rendered.all("PodDisruptionBudget")]
    selectors += [p["spec"]["podSelector"]["matchLabels"] for p in rendered.all("NetworkPolicy")]
    assert len(selectors) >= 3
    for selector in selectors:
        assert not selector.items() <= labels.items(), selector
    assert labels["app.kubernetes.io/component"] == "migration"


@pytest.mark.parametrize(
    ("service_account", "expected"),
    [({"create": True}, None), ({"create": False, "name": "referrals"}, "referrals")],
)
def test_the_job_uses_only_a_service_account_that_exists_before_the_release(
    service_account: dict[str, Any], expected: str | None
) -> None:
    rendered = render({**POSTGRESQL, "serviceAccount": service_account})
    assert _pod(rendered).get("serviceAccountName") == expected
