"""The official AsyncAPI parser accepts the published document, without a warning, in
both event modes and with Kafka security configured."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from service.contract import asyncapi
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


def test_the_parser_accepts_the_document_in_both_event_modes(script: Path, tmp_path: Path) -> None:
    files = []
    for name, settings in SETTINGS.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(asyncapi(settings)))
        files.append(str(path))
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, str(script), *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("AsyncAPI 3.1.0") == 2
