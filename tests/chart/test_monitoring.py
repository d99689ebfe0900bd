"""Monitoring objects: scrape targets, alert rules that parse and fire, and the dashboard.

Every metric the dashboard and the alerts read must be exported by service.metrics.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python import HelmRenderError
from prometheus_client import CollectorRegistry, generate_latest

from service.metrics import Metrics

from .metric_references import (
    dashboard_expressions,
    exported_sample_names,
    referenced_metric_names,
    rule_expressions,
)
from .promtool import promtool
from .rendering import CHART_DIR, FULLNAME, Rendered, render, render_values
from .scenarios import SCENARIOS

DASHBOARD_FILE = CHART_DIR / "files" / "dashboards" / "referral-lifecycle.json"
MONITORING = SCENARIOS["monitoring-values"]
EXPECTED_ALERTS = {
    "ReferralsConsumerLagHigh",
    "ReferralsDeadLettering",
    "ReferralsRejectionRateHigh",
    "ReferralsConsumerStalled",
    "ReferralsOutboxBacklogGrowing",
    "ReferralsReplicaNotReady",
    "ReferralsPoisonRecords",
    "ReferralsWebhookEndpointFailing",
}


@pytest.fixture(scope="module")
def monitoring() -> Rendered:
    return render_values(MONITORING)


@pytest.fixture(scope="module")
def rule_groups(monitoring: Rendered) -> list[dict[str, Any]]:
    return list(monitoring.one("PrometheusRule")["spec"]["groups"])


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD_FILE.read_text()))


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return exported_sample_names(Metrics(CollectorRegistry()).registry)


@pytest.fixture(scope="module")
def promtool_binary() -> Path:
    return promtool()


def _alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_monitoring_objects_are_off_by_default() -> None:
    kinds = render().kinds
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    assert [
        c for c in render().all("ConfigMap") if c["metadata"]["name"].endswith("dashboard")
    ] == []


def test_service_monitor_scrapes_metrics_on_the_http_port_as_job_fullname(
    monitoring: Rendered,
) -> None:
    monitor = monitoring.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"
    assert {"action": "replace", "targetLabel": "job", "replacement": FULLNAME} in endpoint[
        "relabelings"
    ]


def test_pod_monitor_is_the_alternative_to_the_service_monitor() -> None:
    rendered = render({"metrics": {"podMonitor": {"enabled": True}}})
    assert "ServiceMonitor" not in rendered.kinds
    endpoint = rendered.one("PodMonitor")["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "http"
    with pytest.raises(HelmRenderError, match="scrape every pod twice"):
        render({"metrics": {"podMonitor": {"enabled": True}, "serviceMonitor": {"enabled": True}}})


def test_alert_rules_cover_lag_dead_letters_rejections_stalls_outbox_readiness_and_poison(
    rule_groups: list[dict[str, Any]],
) -> None:
    alerts = _alerts(rule_groups)
    assert alerts.keys() == EXPECTED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["labels"]["team"] == "referrals", name
        assert rule["annotations"]["summary"], name
        assert f'job="{FULLNAME}",namespace="apps"' in rule["expr"], name


def test_alert_annotations_keep_prometheus_templates_for_prometheus(
    rule_groups: list[dict[str, Any]],
) -> None:
    descriptions = " ".join(r["annotations"]["description"] for r in _alerts(rule_groups).values())
    assert "{{ $labels.job }}" in descriptions
    assert "{{ $labels.namespace }}" in descriptions
    assert "{{ $value | humanize }}" in descriptions


def test_additional_rules_are_appended_to_the_group() -> None:
    extra = {
        "record": "referrals:commands:rate5m",
        "expr": "sum(rate(referrals_commands_total[5m]))",
    }
    rendered = render(
        {"metrics": {"prometheusRule": {"enabled": True, "additionalRules": [extra]}}}
    )
    rules = rendered.one("PrometheusRule")["spec"]["groups"][0]["rules"]
    assert rules[-1] == extra


def test_dashboard_json_parses_as_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "referral-lifecycle"
    assert dashboard["title"]
    assert dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "job"} <= variables


def test_dashboard_shows_throughput_funnel_outcomes_latency_lag_outbox_and_dead_letters(
    dashboard: dict[str, Any],
) -> None:
    by_title = {panel["title"]: panel for panel in dashboard["panels"]}
    exprs = {
        title: " ".join(t["expr"] for t in p.get("targets", [])) for title, p in by_title.items()
    }
    assert "to_status" in exprs["Lifecycle throughput by new state"]
    funnel = exprs["Funnel New → Active → Won (selected range)"]
    # Creates are not transitions (no previous state): the first stage counts applied creates.
    for stage in ('type="referral.create",outcome="applied"', 'to_status="Active"', "Won"):
        assert stage in funnel
    assert "referrals_current" in exprs["Referrals by state (now)"]
    assert "by (outcome)" in exprs["Command outcomes"]
    assert "histogram_quantile(0.99" in exprs["Command → event latency"]
    assert "histogram_quantile(0.5" in exprs["Batch processing time"]
    assert "referrals_consumer_lag" in exprs["Consumer lag by partition"]
    assert "referrals_outbox_backlog" in exprs["Outbox backlog"]
    assert "referrals_dead_letters_total" in exprs["Dead-lettered records by reason"]
    assert "referrals_poison_records_total" in exprs["Dead-lettered records by reason"]


def test_dashboard_configmap_carries_the_file_and_the_sidecar_label(
    monitoring: Rendered, dashboard: dict[str, Any]
) -> None:
    configmap = monitoring.named("ConfigMap", f"{FULLNAME}-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"]["grafana_folder"] == "Referrals"
    assert json.loads(configmap["data"]["referral-lifecycle.json"]) == dashboard


def test_dashboard_sidecar_label_and_namespace_are_configurable() -> None:
    rendered = render(
        {
            "dashboard": {
                "enabled": True,
                "namespace": "grafana",
                "sidecarLabel": "dashboards",
                "sidecarLabelValue": "referrals",
            }
        }
    )
    configmap = rendered.named("ConfigMap", f"{FULLNAME}-dashboard")
    assert configmap["metadata"]["namespace"] == "grafana"
    assert configmap["metadata"]["labels"]["dashboards"] == "referrals"


def test_every_metric_the_dashboard_reads_is_exported_by_the_service(
    dashboard: dict[str, Any], exported: set[str]
) -> None:
    referenced = set().union(*map(referenced_metric_names, dashboard_expressions(dashboard)))
    assert len(referenced) >= 10
    assert referenced - exported == set()


def test_every_metric_the_alerts_read_is_exported_by_the_service(
    rule_groups: list[dict[str, Any]], exported: set[str]
) -> None:
    referenced = set().union(*map(referenced_metric_names, rule_expressions(rule_groups)))
    assert {"referrals_consumer_lag", "referrals_commands_total", "referrals_ready"} <= referenced
    assert referenced - exported == set()


def _write_rules(groups: list[dict[str, Any]], path: Path) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def _promtool(binary: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_alert_rules_pass_promtool_check(
    rule_groups: list[dict[str, Any]], promtool_binary: Path, tmp_path: Path
) -> None:
    rules = _write_rules(rule_groups, tmp_path / "rules.yaml")
    result = _promtool(promtool_binary, "check", "rules", str(rules), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in result.stdout


def test_promtool_check_catches_a_broken_expression(
    rule_groups: list[dict[str, Any]], promtool_binary: Path, tmp_path: Path
) -> None:
    broken = copy.deepcopy(rule_groups)
    broken[0]["rules"][0]["expr"] = "sum(rate(referrals_commands_total[5m])"
    rules = _write_rules(broken, tmp_path / "rules.yaml")
    result = _promtool(promtool_binary, "check", "rules", str(rules), cwd=tmp_path)
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


# Series as the ServiceMonitor delivers them: job=<full name> and the namespace label.
_RELEASE_LABELS = {"namespace": "apps", "job": FULLNAME}
_LAG = "referrals_consumer_lag"
_COMMANDS = "referrals_commands_total"


def _series(metric: str, values: str, **labels: str) -> dict[str, str]:
    selector = ",".join(f'{k}="{v}"' for k, v in {**_RELEASE_LABELS, **labels}.items())
    return {"series": f"{metric}{{{selector}}}", "values": values}


def _fires(alert: str, at: str, severity: str = "warning", **labels: str) -> dict[str, Any]:
    expected = {**_RELEASE_LABELS, "severity": severity, "team": "referrals", **labels}
    return {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": expected}]}


def _quiet(alert: str, at: str) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": []}


_ALERT_TESTS: list[dict[str, Any]] = [
    {
        # Lag piles up while no command is processed.
        "interval": "1m",
        "input_series": [
            _series(_LAG, "5000x30", topic="referral-commands", partition="0"),
            _series(_COMMANDS, "0x30", type="referral.create", outcome="applied", code=""),
        ],
        "alert_rule_test": [
            _fires("ReferralsConsumerLagHigh", "25m", topic="referral-commands"),
            _fires("ReferralsConsumerStalled", "25m", severity="critical"),
            _quiet("ReferralsRejectionRateHigh", "25m"),
        ],
    },
    {
        # Commands flow, a third of them rejected.
        "interval": "1m",
        "input_series": [
            _series(_LAG, "20x30", topic="referral-commands", partition="0"),
            _series(_COMMANDS, "0+60x30", type="referral.create", outcome="applied", code=""),
            _series(_COMMANDS, "0+30x30", type="referral.win", outcome="rejected", code="conflict"),
        ],
        "alert_rule_test": [
            _quiet("ReferralsConsumerStalled", "25m"),
            _quiet("ReferralsConsumerLagHigh", "25m"),
            _fires("ReferralsRejectionRateHigh", "25m"),
        ],
    },
    {
        # Dead letters, a growing outbox and a replica that never becomes ready.
        "interval": "1m",
        "input_series": [
            _series("referrals_dead_letters_total", "0+1x30", reason="not-cloudevent"),
            _series("referrals_outbox_backlog", "200+10x40", pod="p-1"),
            _series("referrals_ready", "0x30", pod="p-1"),
            _series("referrals_ready", "1x30", pod="p-2"),
        ],
        "alert_rule_test": [
            _fires("ReferralsDeadLettering", "20m", reason="not-cloudevent"),
            _fires("ReferralsOutboxBacklogGrowing", "35m"),
            _fires("ReferralsReplicaNotReady", "20m", pod="p-1"),
            _quiet("ReferralsPoisonRecords", "20m"),
        ],
    },
    {
        # One poison record at minute 10: the alert fires with its stage, then clears.
        "interval": "1m",
        "input_series": [
            _series("referrals_poison_records_total", "0x10 1x40", stage="decide"),
            _series("referrals_poison_records_total", "0x50", stage="store"),
        ],
        "alert_rule_test": [
            _quiet("ReferralsPoisonRecords", "5m"),
            _fires("ReferralsPoisonRecords", "12m", stage="decide"),
            _quiet("ReferralsPoisonRecords", "40m"),
        ],
    },
]


def test_alerts_fire_on_their_conditions_and_stay_quiet_otherwise(
    rule_groups: list[dict[str, Any]], promtool_binary: Path, tmp_path: Path
) -> None:
    # Annotations are checked above; here only when each alert fires and with which labels.
    groups = copy.deepcopy(rule_groups)
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    _write_rules(groups, tmp_path / "rules.yaml")
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": _ALERT_TESTS}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = _promtool(promtool_binary, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_services_exposition_passes_promtool_check_metrics(promtool_binary: Path) -> None:
    metrics = Metrics(CollectorRegistry(), store_backend="sqlite")
    metrics.commands.labels("referral.create", "applied", "").inc()
    page = generate_latest(metrics.registry).decode()
    result = subprocess.run(
        [str(promtool_binary), "check", "metrics"],
        input=page,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
