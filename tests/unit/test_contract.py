"""The published contract describes what the service really reads and writes."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from service.codec import encode_event, encode_rejection
from service.contract import asyncapi, json_schemas
from service.expiry import expire_command
from service.jsonio import dumps
from service.payloads import event_payload
from service.settings import Settings
from service.store import ExpiryCandidate
from state import Applied, Command, CommandType, Rejected, decide

EXAMPLES = Path(__file__).parents[2] / "examples"
NOW = datetime(2026, 11, 24, tzinfo=UTC)
SCHEMAS = json_schemas()


def as_json(value: Any) -> Any:
    """What a subscriber's JSON parser sees."""
    return json.loads(dumps(value))


def validate(name: str, instance: Any) -> None:
    Draft202012Validator(SCHEMAS[name]).validate(as_json(instance))


def test_every_schema_is_a_valid_json_schema() -> None:
    for schema in SCHEMAS.values():
        Draft202012Validator.check_schema(schema)
    assert set(SCHEMAS) >= {t.value for t in CommandType}


def test_the_example_command_and_document_match_the_create_schema() -> None:
    validate("referral.create", json.loads((EXAMPLES / "create-command.json").read_text()))
    document = json.loads((EXAMPLES / "referral.json").read_text())
    envelope = {"specversion": "1.0", "id": "1", "type": "referral.create", "source": "s"}
    validate("referral.create", {**envelope, "data": document})


def test_a_patch_with_an_unsupported_operation_does_not_match_the_schema() -> None:
    envelope = {"specversion": "1.0", "id": "1", "type": "referral.patch", "source": "s",
                "subject": "r", "data": [{"op": "remove", "path": "/name"}]}  # fmt: skip

    with pytest.raises(ValidationError):
        validate("referral.patch", envelope)


def test_emitted_events_and_rejections_match_their_schemas() -> None:
    create = Command(type=CommandType.CREATE, command_id="c1", referral_id="r1",
                     data=json.loads((EXAMPLES / "referral.json").read_text()))  # fmt: skip
    applied = decide(None, create, NOW)
    assert isinstance(applied, Applied)
    accept = Command(type=CommandType.ACCEPT, command_id="c2", referral_id="r1")
    moved = decide(applied.record, accept, NOW)
    assert isinstance(moved, Applied)
    refused = decide(moved.record, create, NOW)
    assert isinstance(refused, Rejected)

    for event in (*applied.events, *moved.events):
        validate("referral.event", event_payload(event))
        structured = encode_event(event, "events", "urn:test", structured=True)
        assert structured.value is not None
        validate("referral.event", json.loads(structured.value)["data"])
    rejection = encode_rejection(create, refused, "rejections", "urn:test", "t", structured=False)
    assert rejection.value is not None
    validate("referral.command.rejected", json.loads(rejection.value))


def test_the_expiry_schedulers_commands_match_the_expire_schema() -> None:
    candidate = ExpiryCandidate("r1", '"e1"', "org", NOW)
    validate("referral.expire", expire_command(candidate, "urn:x", b"secret"))


def test_the_asyncapi_document_names_the_configured_topics_and_resolves_its_refs() -> None:
    settings = Settings(commands_topic="in", events_topic="out", dlq_topic="dead")
    document = asyncapi(settings)

    assert document["asyncapi"] == "3.0.0"
    addresses = {name: channel["address"] for name, channel in document["channels"].items()}
    assert addresses == {"commands": "in", "events": "out",
                         "rejections": "referral-rejections", "deadLetters": "dead"}  # fmt: skip
    assert len(document["channels"]["commands"]["messages"]) == len(CommandType)
    for ref in _refs(document):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
