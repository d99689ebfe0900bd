"""Every scenario renders manifests a Kubernetes API server would accept.

Built-in kinds are validated with kubernetes-validate's strict schemas (unknown fields are
errors) for the oldest and newest Kubernetes versions the tests cover; custom resources are
checked structurally in custom_resources.py.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError

from .custom_resources import CHECKS
from .rendering import CI_VALUES_FILES, Rendered, render_values
from .scenarios import SCENARIOS

KUBERNETES_VERSIONS = ["1.29.0", "1.33.0"]
RECOMMENDED_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS), ids=str)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render_values(SCENARIOS[request.param])


def _validate(doc: dict[str, Any], version: str, where: str) -> None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(map(str, error.path))
        pytest.fail(f"{where} on Kubernetes {version}: {path}: {error.message}")


def test_every_ci_scenario_is_covered() -> None:
    assert len(CI_VALUES_FILES) >= 4
    assert {path.stem for path in CI_VALUES_FILES} <= SCENARIOS.keys()


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_built_in_kinds_pass_strict_kubernetes_schemas(rendered: Rendered, version: str) -> None:
    for manifest in rendered:
        if manifest.kind in CHECKS:
            continue
        where = f"{manifest.template}: {manifest.kind}/{manifest.name}"
        try:
            _validate(manifest.doc, version, where)
        except SchemaNotFoundError:
            pytest.fail(f"{where}: no Kubernetes {version} schema for a built-in kind")


def test_custom_resources_match_their_operator_apis(rendered: Rendered) -> None:
    for manifest in rendered:
        if manifest.kind in CHECKS:
            CHECKS[manifest.kind](manifest.doc, rendered)


def test_custom_resources_have_no_bundled_kubernetes_schema(rendered: Rendered) -> None:
    # Guards the split above: if kubernetes-validate ever learns a CRD, validate it there too.
    for manifest in rendered:
        if manifest.kind in CHECKS:
            with pytest.raises(SchemaNotFoundError):
                kubernetes_validate.validate(manifest.doc, KUBERNETES_VERSIONS[0], strict=True)


def test_every_resource_carries_the_recommended_labels(rendered: Rendered) -> None:
    for manifest in rendered:
        labels = manifest.doc["metadata"].get("labels", {})
        missing = RECOMMENDED_LABELS - labels.keys()
        assert not missing, f"{manifest.kind}/{manifest.name} lacks {sorted(missing)}"


def test_selectors_use_only_the_immutable_name_and_instance_labels(rendered: Rendered) -> None:
    selector = {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
    for deployment in rendered.all("Deployment"):
        assert deployment["spec"]["selector"]["matchLabels"].keys() == selector
    for service in rendered.all("Service"):
        assert service["spec"]["selector"].keys() == selector
    for pdb in rendered.all("PodDisruptionBudget"):
        assert pdb["spec"]["selector"]["matchLabels"].keys() == selector
    for policy in rendered.all("NetworkPolicy"):
        assert policy["spec"]["podSelector"]["matchLabels"].keys() == selector


def test_resources_live_in_the_release_namespace_unless_told_otherwise(rendered: Rendered) -> None:
    movable = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    for manifest in rendered:
        namespace = manifest.doc["metadata"]["namespace"]
        if manifest.kind not in movable and not manifest.name.endswith("-dashboard"):
            assert namespace == "apps", f"{manifest.kind}/{manifest.name} in {namespace}"
