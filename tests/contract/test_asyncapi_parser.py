"""The official AsyncAPI parser accepts the published document, without a warning, in
both event modes, with Kafka security configured, and labelled either version: the parser
checks each against its version's JSON Schema, and 3.0.0's refuses what 3.1.0 added (ROS 2
bindings, examples of any type, more schema formats)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from service.contract import ASYNCAPI_VERSIONS, asyncapi
from service.settings import EventMode, SaslMechanism, SecurityProtocol, Settings

from .parser import validator

SETTINGS = {
    "binary": Settings(),
    "structured": Settings(
        event_mode=EventMode.STRUCTURED,
        kafka_bootstrap_servers="kafka-0:9093,kafka-1:9093",
        kafka_security_protocol=SecurityProtocol.SASL_SSL,
        kafka_sasl_mechanism=SaslMechanism.SCRAM_SHA_512,
    ),
}


@pytest.fixture(scope="module")
def script() -> Path:
    return validator()


def test_the_parser_accepts_the_document_in_both_event_modes_and_versions(
    script: Path, tmp_path: Path
) -> None:
    files = []
    for version in ASYNCAPI_VERSIONS:
        for name, settings in SETTINGS.items():
            path = tmp_path / f"{name}-{version}.json"
            path.write_text(json.dumps(asyncapi(settings, version)))
            files.append(str(path))
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, str(script), *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for version in ASYNCAPI_VERSIONS:
        assert result.stdout.count(f"AsyncAPI {version},") == len(SETTINGS), result.stdout
