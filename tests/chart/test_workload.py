"""The Deployment runs the service hardened, probed, configured and shut down as it expects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from helm_python import HelmRenderError, HelmValuesError

from service.consume.tracing import configured_exporters
from service.settings import Settings

from .rendering import FULLNAME, Rendered, render, render_values
from .scenarios import SCENARIOS

POSTGRESQL: dict[str, Any] = {
    "store": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}},
}
SASL_SSL_MTLS: dict[str, Any] = {
    "kafka": {
        "bootstrapServers": "kafka:9093",
        "securityProtocol": "SASL_SSL",
        "sasl": {"mechanism": "SCRAM-SHA-512", "existingSecret": "kafka-user"},
        "tls": {
            "existingSecret": "kafka-tls",
            "certKey": "tls.crt",
            "keyKey": "tls.key",
            "keyPasswordKey": "key-password",
        },
    }
}
# Stand-ins for the secret settings the kubelet would mount as files, by file name.
SECRET_STAND_INS = {
    "REFERRALS_DATABASE_URL": "postgresql://referrals:pw@db:5432/referrals",
    "REFERRALS_KAFKA_SASL_USERNAME": "referrals",
    "REFERRALS_KAFKA_SASL_PASSWORD": "pw",
    "REFERRALS_KAFKA_SSL_KEY_PASSWORD": "pw",
    "REFERRALS_EXPIRY_SECRET": "a-secret",
}


def _service_env(rendered: Rendered, secrets: Path) -> dict[str, str]:
    """The service's environment as the kubelet would build it, the secret files stood in
    under ``secrets``."""
    env = rendered.env()
    assert all(isinstance(value, str) for value in env.values()), "a setting is not plain"
    for name in rendered.secret_files():
        (secrets / name).write_text(SECRET_STAND_INS[name] + "\n")
    if "REFERRALS_SECRETS_DIR" in env:
        env["REFERRALS_SECRETS_DIR"] = str(secrets)
    return env


def test_pod_and_container_run_as_the_image_user_without_privileges() -> None:
    rendered = render()
    pod = rendered.workload()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = rendered.container()["securityContext"]
    assert container["runAsNonRoot"] is True
    assert container["runAsUser"] == 10001
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_service_account_token_is_not_mounted() -> None:
    rendered = render()
    assert rendered.workload()["automountServiceAccountToken"] is False
    assert rendered.one("ServiceAccount")["automountServiceAccountToken"] is False
    assert rendered.workload()["serviceAccountName"] == FULLNAME


def test_tmp_is_the_only_writable_path_besides_the_data_directory() -> None:
    rendered = render()
    volumes = {v["name"]: v for v in rendered.workload()["volumes"]}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "64Mi"}
    writable = {m["mountPath"] for m in rendered.container()["volumeMounts"]}
    assert writable == {"/tmp", "/data"}


def test_probes_check_liveness_on_healthz_and_readiness_on_readyz() -> None:
    container = render().container()
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_probes_can_be_replaced_or_disabled() -> None:
    container = render(
        {"customLivenessProbe": {"tcpSocket": {"port": "http"}}, "startupProbe": {"enabled": False}}
    ).container()
    assert container["livenessProbe"] == {"tcpSocket": {"port": "http"}}
    assert "startupProbe" not in container


def test_the_http_server_listens_on_all_interfaces_on_the_named_port() -> None:
    rendered = render({"containerPort": 9090})
    env = rendered.env()
    assert env["REFERRALS_HTTP_HOST"] == "0.0.0.0"
    assert env["REFERRALS_HTTP_PORT"] == "9090"
    assert rendered.container()["ports"] == [
        {"name": "http", "containerPort": 9090, "protocol": "TCP"}
    ]
    assert rendered.one("Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_shutdown_leaves_time_to_commit_and_leave_the_consumer_group() -> None:
    rendered = render()
    pod = rendered.workload()
    pre_stop = rendered.container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop == ["sleep", "5"]
    shutdown = int(rendered.env()["REFERRALS_SHUTDOWN_TIMEOUT_SECONDS"])
    assert shutdown == 25
    assert pod["terminationGracePeriodSeconds"] == 40
    assert pod["terminationGracePeriodSeconds"] > 5 + shutdown


def test_a_grace_period_shorter_than_the_shutdown_fails_to_render() -> None:
    with pytest.raises(HelmRenderError, match="terminationGracePeriodSeconds=20 is shorter"):
        render({"terminationGracePeriodSeconds": 20})


def test_the_pre_stop_sleep_can_be_turned_off() -> None:
    assert "lifecycle" not in render({"preStopSleepSeconds": 0}).container()


def test_a_config_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        template = render(values).one("Deployment")["spec"]["template"]
        return str(template["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"config": {"logLevel": "DEBUG"}})


def test_image_tag_defaults_to_the_app_version_and_a_digest_wins() -> None:
    assert render().container()["image"] == "ghcr.io/referral-lifecycle/referral-service:0.1.0"
    digest = "sha256:" + "b" * 64
    image = render({"image": {"digest": digest, "registry": ""}}).container()["image"]
    assert image == f"referral-lifecycle/referral-service@{digest}"


def test_missing_bootstrap_servers_fail_to_render() -> None:
    with pytest.raises(HelmRenderError, match=re.escape("kafka.bootstrapServers is required")):
        render_values({})


#: The standard OpenTelemetry variables the chart may set (tracing.*).
OTEL_VARIABLES = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_environment_variable_names_a_service_setting(scenario: str) -> None:
    rendered = render_values(SCENARIOS[scenario])
    for name in rendered.env().keys() - OTEL_VARIABLES:
        assert name.startswith("REFERRALS_"), name
        field = name.removeprefix("REFERRALS_").lower()
        assert field in Settings.model_fields, f"{name} is not a setting of service.settings"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_rendered_configuration_is_accepted_by_the_service_settings(
    scenario: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"REFERRALS_{name.upper()}", raising=False)
    for name, value in _service_env(render_values(SCENARIOS[scenario]), tmp_path).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.http_host == "0.0.0.0"
    assert settings.kafka_bootstrap_servers == SCENARIOS[scenario]["kafka"]["bootstrapServers"]


def test_kafka_sasl_ssl_with_mutual_tls_maps_to_the_service_settings() -> None:
    rendered = render(SASL_SSL_MTLS)
    env = rendered.env()
    assert env["REFERRALS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["REFERRALS_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert rendered.secret_files() == {
        "REFERRALS_KAFKA_SASL_USERNAME": {"name": "kafka-user", "key": "username"},
        "REFERRALS_KAFKA_SASL_PASSWORD": {"name": "kafka-user", "key": "password"},
        "REFERRALS_KAFKA_SSL_KEY_PASSWORD": {"name": "kafka-tls", "key": "key-password"},
    }
    assert env["REFERRALS_KAFKA_SSL_CAFILE"] == "/etc/referrals/kafka-tls/ca.crt"
    assert env["REFERRALS_KAFKA_SSL_CERTFILE"] == "/etc/referrals/kafka-tls/client.crt"
    assert env["REFERRALS_KAFKA_SSL_KEYFILE"] == "/etc/referrals/kafka-tls/client.key"
    mount = next(m for m in rendered.container()["volumeMounts"] if m["name"] == "kafka-tls")
    assert mount == {"name": "kafka-tls", "mountPath": "/etc/referrals/kafka-tls", "readOnly": True}
    volume = next(v for v in rendered.workload()["volumes"] if v["name"] == "kafka-tls")
    assert volume["secret"]["secretName"] == "kafka-tls"
    assert volume["secret"]["defaultMode"] == 0o440
    assert {item["key"]: item["path"] for item in volume["secret"]["items"]} == {
        "ca.crt": "ca.crt",
        "tls.crt": "client.crt",
        "tls.key": "client.key",
    }
    assert "Secret" not in rendered.kinds


def test_secrets_reach_the_service_as_read_only_files_never_as_environment() -> None:
    rendered = render(SASL_SSL_MTLS)
    container = rendered.container()
    assert not [var for var in container.get("env", []) if "valueFrom" in var]
    assert not [source for source in container["envFrom"] if "secretRef" in source]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "secrets")
    assert mount == {"name": "secrets", "mountPath": "/etc/referrals/secrets", "readOnly": True}
    assert rendered.env()["REFERRALS_SECRETS_DIR"] == "/etc/referrals/secrets"
    volume = next(v for v in rendered.workload()["volumes"] if v["name"] == "secrets")
    assert volume["projected"]["defaultMode"] == 0o440
    assert "REFERRALS_SECRETS_DIR" not in render().env()  # nothing secret: nothing mounted


def test_traces_go_to_the_configured_collector_only_when_one_is_named() -> None:
    assert not {name for name in render().env() if name.startswith("OTEL_")}
    env = render(
        {"tracing": {"otlpEndpoint": "http://collector:4318", "sampler": "traceidratio",
                     "samplerArg": "0.1"}}
    ).env()  # fmt: skip
    otel = {name: value for name, value in env.items() if name.startswith("OTEL_")}
    assert otel == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_SERVICE_NAME": FULLNAME,
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    assert configured_exporters(otel) == ["otlp"]
    with pytest.raises(HelmValuesError, match="otlpEndpoint"):
        render({"tracing": {"otlpEndpoint": "collector:4318"}})


def test_plaintext_kafka_sets_no_sasl_or_tls_settings() -> None:
    env = render().env()
    assert env["REFERRALS_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert not [name for name in env if "SASL" in name or "SSL" in name]


def test_ssl_without_a_tls_secret_trusts_the_system_cas() -> None:
    rendered = render({"kafka": {"securityProtocol": "SSL"}})
    assert "REFERRALS_KAFKA_SSL_CAFILE" not in rendered.env()
    assert "kafka-tls" not in {v["name"] for v in rendered.workload()["volumes"]}


def test_sasl_plaintext_credentials_fall_back_to_a_chart_secret() -> None:
    rendered = render(
        {
            "kafka": {
                "securityProtocol": "SASL_PLAINTEXT",
                "sasl": {"mechanism": "PLAIN", "username": "referrals", "password": "pw"},
            }
        }
    )
    secret = rendered.one("Secret")
    assert set(secret["data"]) == {"kafka-sasl-username", "kafka-sasl-password"}
    assert rendered.secret_files()["REFERRALS_KAFKA_SASL_PASSWORD"] == {
        "name": secret["metadata"]["name"],
        "key": "kafka-sasl-password",
    }


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        ({"securityProtocol": "SASL_SSL", "sasl": {"existingSecret": "s"}}, "sasl.mechanism"),
        ({"securityProtocol": "SASL_PLAINTEXT", "sasl": {"mechanism": "PLAIN"}}, "credentials"),
        (
            {"securityProtocol": "SSL", "tls": {"existingSecret": "t", "certKey": "tls.crt"}},
            "certKey and kafka.tls.keyKey go together",
        ),
        (
            {"securityProtocol": "SSL", "tls": {"certKey": "c", "keyKey": "k"}},
            "existingSecret, which is empty",
        ),
    ],
    ids=["sasl-without-mechanism", "sasl-without-credentials", "cert-without-key", "no-secret"],
)
def test_incomplete_kafka_security_fails_to_render(kafka: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmRenderError, match=re.escape(message)):
        render({"kafka": kafka})


def test_topology_spread_constraints_may_refer_to_the_selector_labels() -> None:
    rendered = render_values(SCENARIOS["postgresql-hpa-values"])
    constraint = rendered.workload()["topologySpreadConstraints"][0]
    assert constraint["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "referral-service",
        "app.kubernetes.io/instance": "demo",
    }


def test_extension_hooks_reach_the_pod() -> None:
    rendered = render_values(SCENARIOS["hooks-and-overrides"])
    pod = rendered.workload()
    assert [c["name"] for c in pod["initContainers"]] == ["wait"]
    assert [c["name"] for c in pod["containers"]] == ["referral-service", "proxy"]
    assert pod["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["priorityClassName"] == "high"
    assert pod["serviceAccountName"] == "referrals"
    assert "ServiceAccount" not in rendered.kinds
    anti = pod["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in anti
    container = rendered.container()
    assert {"configMapRef": {"name": "referral-extra"}} in container["envFrom"]
    assert {"secretRef": {"name": "referral-extra-secret"}} in container["envFrom"]
    assert {"name": "REFERRALS_LOG_LEVEL", "value": "DEBUG"} in container["env"]
    assert {"name": "scratch", "mountPath": "/scratch"} in container["volumeMounts"]
    assert "readinessProbe" not in container
    labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["tier"] == "backend"
    assert labels["team"] == "referrals"


def test_helm_test_pod_curls_health_and_metrics_with_a_restricted_security_context() -> None:
    rendered = render()
    pod = next(m.doc for m in rendered if m.template.endswith("tests/test-connection.yaml"))
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = " ".join(pod["spec"]["containers"][0]["args"])
    base = f"http://{FULLNAME}.apps.svc:8080"
    assert f"{base}/healthz" in script
    assert f"{base}/metrics" in script
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["spec"]["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    # The Service must not route to the test pod.
    selector = rendered.one("Service")["spec"]["selector"]
    assert not selector.items() <= pod["metadata"]["labels"].items()


def test_the_helm_test_can_be_turned_off() -> None:
    rendered = render({"tests": {"enabled": False}})
    assert not [m for m in rendered if "tests/" in m.template]


def test_network_policy_opens_the_http_port_and_egress_to_dns_kafka_postgresql_webhooks() -> None:
    rendered = render({**POSTGRESQL, "networkPolicy": {"enabled": True}})
    policy = rendered.one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    egress_ports = [
        {(p["port"], p["protocol"]) for p in rule["ports"]} for rule in policy["egress"]
    ]
    assert egress_ports == [
        {(53, "UDP"), (53, "TCP")},
        {(9092, "TCP"), (9093, "TCP")},
        {(5432, "TCP")},
        {(443, "TCP")},  # webhook receivers, outside the cluster's ranges
    ]


def test_network_policy_in_sqlite_mode_opens_no_postgresql_port() -> None:
    policy = render({"networkPolicy": {"enabled": True}}).one("NetworkPolicy")["spec"]
    ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert 5432 not in ports


def test_restricted_ingress_still_admits_the_helm_test_pod() -> None:
    rendered = render(
        {
            "networkPolicy": {
                "enabled": True,
                "ingress": {
                    "allowExternal": False,
                    "namespaceSelector": {"kubernetes.io/metadata.name": "monitoring"},
                },
            }
        }
    )
    peers = rendered.one("NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {f"{FULLNAME}-client": "true"}}} in peers
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    } in peers
    test_pod = next(m.doc for m in rendered if m.template.endswith("test-connection.yaml"))
    assert test_pod["metadata"]["labels"][f"{FULLNAME}-client"] == "true"


def test_notes_explain_how_to_reach_health_and_metrics() -> None:
    notes = render().notes
    assert f"port-forward service/{FULLNAME}" in notes
    assert "/readyz" in notes
    assert "helm test demo" in notes


def test_limits_and_poison_attempts_reach_the_service_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    limits = {"jsonDepth": 32, "patchOperations": 20, "documentBytes": 100_000,
              "arrayItems": 50, "stringLength": 4096, "attributeLength": 128,
              "recordBytes": 500_000}  # fmt: skip
    rendered = render({"config": {"limits": limits, "poisonAttempts": 5}})
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"REFERRALS_{name.upper()}", raising=False)
    for name, value in _service_env(rendered, tmp_path).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.max_json_depth, settings.max_patch_operations) == (32, 20)
    assert (settings.max_document_bytes, settings.max_record_bytes) == (100_000, 500_000)
    assert (settings.max_array_items, settings.max_string_length) == (50, 4096)
    assert (settings.max_attribute_length, settings.poison_attempts) == (128, 5)


def test_a_document_limit_that_leaves_no_room_for_the_event_fails_to_render() -> None:
    limits = {"documentBytes": 990_000, "recordBytes": 1_000_000}
    with pytest.raises(HelmRenderError, match="documentBytes \\+ 65536 must not exceed"):
        render({"config": {"limits": limits}})


@pytest.mark.parametrize(
    ("values", "workers"),
    [
        ({}, "1"),  # the default request, 100m
        ({"resources": {"requests": {"cpu": "2"}}}, "2"),
        ({"resources": {"requests": {"cpu": "1500m"}}}, "2"),
        ({"resources": {"requests": {"cpu": 0.5}}}, "1"),
        ({"resources": {"requests": {"cpu": None}}}, "0"),  # no CPU request
        ({"resources": {"requests": {"cpu": "2"}}, "config": {"workers": 3}}, "3"),
    ],
)
def test_workers_follow_the_pods_cpu_request_unless_configured(
    values: dict[str, Any], workers: str
) -> None:
    env = render(values).env()
    assert env["REFERRALS_WORKERS"] == workers
    assert Settings(workers=int(workers)).workers == int(workers)
