"""Structural checks of the custom resources the chart renders.

kubernetes-validate ships no schemas for CRDs, so ServiceMonitor, PodMonitor,
PrometheusRule, ScaledObject and TriggerAuthentication are checked here against the fields
of their operators' APIs (prometheus-operator monitoring.coreos.com/v1, KEDA
keda.sh/v1alpha1) and against the chart's own objects they point at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .rendering import FULLNAME, Rendered

_DURATION = re.compile(r"^(0|([0-9]+(ms|s|m|h|d|w|y))+)$")
_RELABEL_ACTIONS = {
    "replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
    "lowercase", "uppercase", "keepequal", "dropequal",
}  # fmt: skip
_RELABEL_FIELDS = {
    "sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement", "action",
}  # fmt: skip
_ENDPOINT_FIELDS = {
    "port", "targetPort", "path", "scheme", "params", "interval", "scrapeTimeout",
    "honorLabels", "honorTimestamps", "relabelings", "metricRelabelings", "tlsConfig",
    "bearerTokenSecret", "authorization", "basicAuth", "followRedirects", "enableHttp2",
    "filterRunning", "proxyUrl",
}  # fmt: skip
_MONITOR_SPEC_FIELDS = {
    "selector", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels",
    "sampleLimit", "targetLimit", "labelLimit", "endpoints", "podMetricsEndpoints",
}  # fmt: skip
_RULE_FIELDS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
_KAFKA_TRIGGER_PARAMETERS = {
    "bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold",
    "offsetResetPolicy", "allowIdleConsumers", "scaleToZeroOnInvalidOffset",
    "excludePersistentLag", "limitToPartitionsWithLag", "version", "partitionLimitation",
    "sasl", "tls", "unsafeSsl",
}  # fmt: skip
_KAFKA_AUTH_PARAMETERS = {
    "sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword",
}  # fmt: skip


def _fields(obj: Any, where: str, required: set[str], allowed: set[str]) -> None:
    assert isinstance(obj, Mapping), f"{where}: expected an object, got {obj!r}"
    missing = required - obj.keys()
    unknown = obj.keys() - allowed - required
    assert not missing, f"{where}: missing {sorted(missing)}"
    assert not unknown, f"{where}: unknown fields {sorted(unknown)}"


def _non_empty_list(obj: Any, where: str) -> None:
    assert isinstance(obj, list), f"{where}: expected a list, got {obj!r}"
    assert obj, f"{where}: empty"


def _string_map(obj: Any, where: str) -> None:
    assert isinstance(obj, Mapping), f"{where}: expected a map"
    for key, value in obj.items():
        assert isinstance(value, str), f"{where}.{key}: must be a string, got {value!r}"


def _metadata(doc: Mapping[str, Any], kind: str, api_version: str) -> str:
    _fields(doc, kind, {"apiVersion", "kind", "metadata", "spec"}, set())
    assert doc["apiVersion"] == api_version, f"{kind}: apiVersion {doc['apiVersion']}"
    _fields(doc["metadata"], f"{kind}.metadata", {"name", "namespace", "labels"}, {"annotations"})
    _string_map(doc["metadata"]["labels"], f"{kind}.metadata.labels")
    return f"{kind}/{doc['metadata']['name']}"


def _durations(obj: Mapping[str, Any], where: str, *keys: str) -> None:
    for key in keys:
        if key in obj:
            assert _DURATION.match(str(obj[key])), f"{where}.{key}: bad duration {obj[key]!r}"


def _relabelings(relabelings: Any, where: str) -> None:
    assert isinstance(relabelings, list), f"{where}: expected a list"
    for index, relabeling in enumerate(relabelings):
        _fields(relabeling, f"{where}[{index}]", set(), _RELABEL_FIELDS)
        action = relabeling.get("action", "replace")
        assert action.lower() in _RELABEL_ACTIONS, f"{where}[{index}].action: {action!r}"


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes LabelSelector (matchLabels, matchExpressions In) selects labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", f"unexpected operator in {expression}"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _selects_workload(spec: Mapping[str, Any], rendered: Rendered, where: str) -> None:
    """The monitor selects the pods of every Deployment: the consumer's and the read tier's."""
    for deployment in rendered.all("Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = deployment["metadata"]["name"]
        assert selects(spec["selector"], pod_labels), f"{where}: selects no pod of {name}"
    assert spec["namespaceSelector"]["matchNames"], f"{where}: namespaceSelector empty"


def _endpoints(endpoints: Any, where: str, ports: set[str]) -> None:
    _non_empty_list(endpoints, where)
    for index, endpoint in enumerate(endpoints):
        at = f"{where}[{index}]"
        _fields(endpoint, at, {"port"}, _ENDPOINT_FIELDS)
        assert endpoint["port"] in ports, f"{at}.port {endpoint['port']!r} not in {ports}"
        _durations(endpoint, at, "interval", "scrapeTimeout")
        _relabelings(endpoint.get("relabelings", []), f"{at}.relabelings")
        _relabelings(endpoint.get("metricRelabelings", []), f"{at}.metricRelabelings")


def check_service_monitor(doc: Mapping[str, Any], rendered: Rendered) -> None:
    where = _metadata(doc, "ServiceMonitor", "monitoring.coreos.com/v1")
    spec = doc["spec"]
    _fields(spec, f"{where}.spec", {"selector", "endpoints"}, _MONITOR_SPEC_FIELDS)
    service = rendered.named("Service", FULLNAME)  # the operations Service
    assert selects(spec["selector"], service["metadata"]["labels"]), f"{where}: selects no Service"
    ports = {port["name"] for port in service["spec"]["ports"]}
    _endpoints(spec["endpoints"], f"{where}.spec.endpoints", ports)
    _scrapes_every_workload(spec, rendered, where)


def _scrapes_every_workload(spec: Mapping[str, Any], rendered: Rendered, where: str) -> None:
    """Every Deployment's pods sit behind a Service the monitor selects, on a scraped port."""
    scraped = {endpoint["port"] for endpoint in spec["endpoints"]}
    behind = [
        service["spec"]["selector"]
        for service in rendered.all("Service")
        if selects(spec["selector"], service["metadata"]["labels"])
        and scraped & {port["name"] for port in service["spec"]["ports"]}
    ]
    for deployment in rendered.all("Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = deployment["metadata"]["name"]
        assert any(selects({"matchLabels": chosen}, pod_labels) for chosen in behind), (
            f"{where}: scrapes no pod of {name}"
        )
    assert spec["namespaceSelector"]["matchNames"], f"{where}: namespaceSelector empty"


def check_pod_monitor(doc: Mapping[str, Any], rendered: Rendered) -> None:
    where = _metadata(doc, "PodMonitor", "monitoring.coreos.com/v1")
    spec = doc["spec"]
    _fields(spec, f"{where}.spec", {"selector", "podMetricsEndpoints"}, _MONITOR_SPEC_FIELDS)
    _selects_workload(spec, rendered, where)
    ports = {port["name"] for port in rendered.container()["ports"]}
    _endpoints(spec["podMetricsEndpoints"], f"{where}.spec.podMetricsEndpoints", ports)


def check_prometheus_rule(doc: Mapping[str, Any], rendered: Rendered) -> None:
    where = _metadata(doc, "PrometheusRule", "monitoring.coreos.com/v1")
    _fields(doc["spec"], f"{where}.spec", {"groups"}, set())
    groups = doc["spec"]["groups"]
    _non_empty_list(groups, f"{where}.spec.groups")
    group_names = [group.get("name") for group in groups]
    assert len(set(group_names)) == len(group_names), f"{where}: duplicate group names"
    for group in groups:
        at = f"{where}.groups[{group['name']}]"
        _fields(group, at, {"name", "rules"}, {"interval", "limit", "partial_response_strategy"})
        _durations(group, at, "interval")
        for index, rule in enumerate(group["rules"]):
            rule_at = f"{at}.rules[{index}]"
            _fields(rule, rule_at, {"expr"}, _RULE_FIELDS)
            assert ("alert" in rule) != ("record" in rule), f"{rule_at}: alert xor record"
            assert isinstance(rule["expr"], str), f"{rule_at}.expr: must be a string"
            assert rule["expr"].strip(), f"{rule_at}.expr: empty"
            _durations(rule, rule_at, "for", "keep_firing_for")
            _string_map(rule.get("labels", {}), f"{rule_at}.labels")
            _string_map(rule.get("annotations", {}), f"{rule_at}.annotations")


def check_scaled_object(doc: Mapping[str, Any], rendered: Rendered) -> None:
    where = _metadata(doc, "ScaledObject", "keda.sh/v1alpha1")
    spec = doc["spec"]
    _fields(
        spec,
        f"{where}.spec",
        {"scaleTargetRef", "triggers"},
        {"pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "idleReplicaCount",
         "minReplicaCount", "maxReplicaCount", "fallback", "advanced"},
    )  # fmt: skip
    deployment = rendered.named("Deployment", FULLNAME)  # the consumer, never the read tier
    target = spec["scaleTargetRef"]
    _fields(
        target,
        f"{where}.scaleTargetRef",
        {"name"},
        {"apiVersion", "kind", "envSourceContainerName"},
    )
    assert target["name"] == deployment["metadata"]["name"], f"{where}: scales another object"
    assert target.get("kind", "Deployment") == "Deployment"
    for key in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        assert isinstance(spec.get(key, 0), int), f"{where}.{key}: must be an integer"
    assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100)
    if "fallback" in spec:
        _fields(
            spec["fallback"], f"{where}.fallback", {"failureThreshold", "replicas"}, {"behavior"}
        )
    if "advanced" in spec:
        _fields(
            spec["advanced"],
            f"{where}.advanced",
            set(),
            {"horizontalPodAutoscalerConfig", "restoreToOriginalReplicaCount", "scalingModifiers"},
        )
    auth_names = {auth["metadata"]["name"] for auth in rendered.all("TriggerAuthentication")}
    for index, trigger in enumerate(spec["triggers"]):
        at = f"{where}.triggers[{index}]"
        _fields(
            trigger,
            at,
            {"type", "metadata"},
            {"name", "authenticationRef", "metricType", "useCachedMetrics"},
        )
        assert trigger["type"] == "kafka", f"{at}: type {trigger['type']!r}"
        # KEDA trigger metadata is map[string]string: numbers and booleans must be quoted.
        _string_map(trigger["metadata"], f"{at}.metadata")
        _fields(
            trigger["metadata"],
            f"{at}.metadata",
            {"bootstrapServers", "consumerGroup", "topic"},
            _KAFKA_TRIGGER_PARAMETERS,
        )
        if "authenticationRef" in trigger:
            ref = trigger["authenticationRef"]
            _fields(ref, f"{at}.authenticationRef", {"name"}, {"kind"})
            assert ref["name"] in auth_names, f"{at}: no TriggerAuthentication {ref['name']!r}"
    assert deployment["spec"].get("replicas") is None, "the Deployment must leave replicas to KEDA"


def check_trigger_authentication(doc: Mapping[str, Any], rendered: Rendered) -> None:
    where = _metadata(doc, "TriggerAuthentication", "keda.sh/v1alpha1")
    _fields(doc["spec"], f"{where}.spec", {"secretTargetRef"}, {"env"})
    refs = doc["spec"]["secretTargetRef"]
    _non_empty_list(refs, f"{where}.spec.secretTargetRef")
    for index, ref in enumerate(refs):
        at = f"{where}.secretTargetRef[{index}]"
        _fields(ref, at, {"parameter", "name", "key"}, set())
        _string_map(ref, at)
        assert ref["parameter"] in _KAFKA_AUTH_PARAMETERS, f"{at}: parameter {ref['parameter']!r}"
    parameters = [ref["parameter"] for ref in refs]
    assert len(set(parameters)) == len(parameters), f"{where}: parameter given twice"
    assert ("cert" in parameters) == ("key" in parameters), f"{where}: cert and key go together"


CHECKS: dict[str, Callable[[Mapping[str, Any], Rendered], None]] = {
    "ServiceMonitor": check_service_monitor,
    "PodMonitor": check_pod_monitor,
    "PrometheusRule": check_prometheus_rule,
    "ScaledObject": check_scaled_object,
    "TriggerAuthentication": check_trigger_authentication,
}
