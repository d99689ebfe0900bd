"""Modelina (npm ``@asyncapi/modelina``, the AsyncAPI model generator, pinned by
package-lock.json) generates named models from the published document, run as an
integrator would (its TypeScript generator, the most complete): the Referral, every
command envelope, the event and the rejection, and no anonymous model."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from service.contract import asyncapi
from service.settings import EventMode, Settings

from .parser import model_generator

COMMAND_ENVELOPES = {
    "CreateReferralCommand",
    "PatchReferralCommand",
    "ReplaceReferralCommand",
    "AcceptReferralCommand",
    "DeclineReferralCommand",
    "WinReferralCommand",
    "LoseReferralCommand",
    "ExpireReferralCommand",
}
SHARED = COMMAND_ENVELOPES | {"Referral", "CustomerProfile", "ReferralStatus", "DeadLetterValue"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Model names per document: the default in both event modes, and 3.1.0."""
    folder = tmp_path_factory.mktemp("asyncapi")
    documents = {
        "binary": asyncapi(Settings(event_mode=EventMode.BINARY)),
        "structured": asyncapi(Settings(event_mode=EventMode.STRUCTURED)),
        "3.1.0": asyncapi(Settings(), "3.1.0"),
    }
    for name, document in documents.items():
        (folder / f"{name}.json").write_text(json.dumps(document))
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, str(model_generator()), *(f"{name}.json" for name in documents)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {Path(file).stem: names for file, names in json.loads(result.stdout).items()}


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_modelina_generates_named_models_from_the_default_document(
    models: dict[str, list[str]], mode: str
) -> None:
    names = models[mode]
    assert set(names) >= SHARED, sorted(SHARED - set(names))
    assert "Root" not in names
    assert not [name for name in names if name.startswith("AnonymousSchema")], names
    assert len(names) == len(set(names)), names


def test_the_event_and_rejection_models_follow_the_event_mode(
    models: dict[str, list[str]],
) -> None:
    assert {"ReferralEvent", "ReferralCommandRejected"} <= set(models["binary"])
    assert {"ReferralEventCloudEvent", "ReferralCommandRejectedCloudEvent"} <= set(
        models["structured"]
    )


def test_modelina_reads_no_later_version_than_the_default(
    models: dict[str, list[str]],
) -> None:
    """Why 3.0.0 is the default: this Modelina makes one anonymous Root of a 3.1.0 document.
    When this fails, the pinned Modelina has learned 3.1.0."""
    assert models["3.1.0"] == ["Root"]
