"""Render the chart offline with helm_python and load what it produced.

Every rendered document is parsed with a YAML loader that refuses duplicate keys (PyYAML
silently keeps the last one, the Kubernetes API server does not).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from helm_python import Chart, values_from_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "referral-service"
CI_VALUES_FILES = sorted((CHART_DIR / "ci").glob("*-values.yaml"))
RELEASE = "demo"
NAMESPACE = "apps"
FULLNAME = "demo-referral-service"
API_FULLNAME = f"{FULLNAME}-api"
# The one value the chart requires; every inline scenario starts from it.
BASE_VALUES: dict[str, Any] = {"kafka": {"bootstrapServers": "kafka.kafka.svc:9092"}}


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of one rendered template."""
    return [doc for doc in yaml.load_all(text, Loader=_UniqueKeyLoader) if doc]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def ci_values(path: Path) -> dict[str, Any]:
    return values_from_yaml(path.read_text())


@dataclass(frozen=True)
class Manifest:
    template: str
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])


@dataclass(frozen=True)
class Rendered:
    manifests: tuple[Manifest, ...]
    notes: str

    def __iter__(self) -> Iterator[Manifest]:
        return iter(self.manifests)

    @property
    def kinds(self) -> set[str]:
        return {m.kind for m in self.manifests}

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [m.doc for m in self.manifests if m.kind == kind]

    def one(self, kind: str) -> dict[str, Any]:
        docs = self.all(kind)
        assert len(docs) == 1, f"expected one {kind}, rendered {len(docs)}"
        return docs[0]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        docs = [doc for doc in self.all(kind) if doc["metadata"]["name"] == name]
        assert docs, f"no {kind} named {name}; rendered {self.kinds}"
        return docs[0]

    def workload(self) -> dict[str, Any]:
        """The consumer Deployment's pod spec."""
        return self.named("Deployment", FULLNAME)["spec"]["template"]["spec"]

    def container(self) -> dict[str, Any]:
        containers = self.workload()["containers"]
        return next(c for c in containers if c["name"] == "referral-service")

    def api_workload(self) -> dict[str, Any]:
        """The read tier's pod spec (api.tier separate)."""
        return self.named("Deployment", API_FULLNAME)["spec"]["template"]["spec"]

    def api_container(self) -> dict[str, Any]:
        containers = self.api_workload()["containers"]
        return next(c for c in containers if c["name"] == "referral-api")

    def env(self) -> dict[str, Any]:
        """Environment of the service container: ConfigMap entries, then explicit env."""
        return self._environment(self.container())

    def api_env(self) -> dict[str, Any]:
        """Environment of the read tier's container."""
        return self._environment(self.api_container())

    def _environment(self, container: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = dict(self.named("ConfigMap", FULLNAME)["data"])
        for var in container.get("env", []):
            merged[var["name"]] = var.get("value", var.get("valueFrom"))
        return merged

    def secret_files(self) -> dict[str, dict[str, str]]:
        """The settings mounted as files (REFERRALS_SECRETS_DIR): file -> Secret name, key."""
        volumes = [v for v in self.workload()["volumes"] if v["name"] == "secrets"]
        return {
            item["path"]: {"name": source["secret"]["name"], "key": item["key"]}
            for volume in volumes
            for source in volume["projected"]["sources"]
            for item in source["secret"]["items"]
        }


def render_files(values: Mapping[str, Any]) -> dict[str, str]:
    with Chart.load(CHART_DIR) as chart:
        return chart.render(dict(values), name=RELEASE, namespace=NAMESPACE)


def render_values(values: Mapping[str, Any]) -> Rendered:
    """Render exactly these values (plus the chart defaults)."""
    files = render_files(values)
    notes = next((text for path, text in files.items() if path.endswith("NOTES.txt")), "")
    manifests = tuple(
        Manifest(path, doc)
        for path, text in sorted(files.items())
        if not path.endswith("NOTES.txt")
        for doc in load_documents(text)
    )
    return Rendered(manifests, notes)


def render(overrides: Mapping[str, Any] | None = None) -> Rendered:
    """Render BASE_VALUES deep-merged with the overrides."""
    return render_values(deep_merge(BASE_VALUES, overrides or {}))
