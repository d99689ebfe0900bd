"""The published contract describes what the service really reads and writes."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from service.cli.main import main
from service.codec import encode_event, encode_rejection
from service.contract import asyncapi, json_schemas
from service.expiry import expire_command
from service.jsonio import dumps
from service.payloads import event_payload
from service.settings import EventMode, Settings
from service.store import ExpiryCandidate
from service.version import package_version
from state import Applied, Command, CommandType, Rejected, decide

EXAMPLES = Path(__file__).parents[2] / "examples"
NOW = datetime(2026, 11, 24, tzinfo=UTC)
SCHEMAS = json_schemas()


def as_json(value: Any) -> Any:
    """What a subscriber's JSON parser sees."""
    return json.loads(dumps(value))


def validate(name: str, instance: Any) -> None:
    validator = Draft202012Validator(SCHEMAS[name], format_checker=FORMATS)
    validator.validate(as_json(instance))


FORMATS = Draft202012Validator.FORMAT_CHECKER
MACHINE_TITLE = re.compile("[A-Z][A-Za-z0-9]*")


def test_every_schema_is_a_valid_json_schema_with_an_id_and_a_machine_title() -> None:
    for name, schema in SCHEMAS.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith(name)
        assert MACHINE_TITLE.fullmatch(schema["title"]), schema["title"]
        assert schema["description"]
    assert set(SCHEMAS) >= {t.value for t in CommandType}
    assert SCHEMAS["referral.create"]["title"] == "CreateReferralCommand"
    assert SCHEMAS["referral.event"]["title"] == "ReferralEvent"
    assert len({schema["$id"] for schema in SCHEMAS.values()}) == len(SCHEMAS)


def test_the_format_checker_checks_date_times_and_e_mails() -> None:
    assert not FORMATS.conforms("2026-13-45T00:00:00Z", "date-time")
    assert FORMATS.conforms("2026-11-24T10:00:00.0000000Z", "date-time")
    assert not FORMATS.conforms("alex.wilber", "email")
    document = json.loads((EXAMPLES / "referral.json").read_text())
    envelope = {"specversion": "1.0", "id": "1", "type": "referral.create", "source": "s"}
    late = json.loads(json.dumps(document))
    late["details"]["closingDateTime"] = "next tuesday"
    with pytest.raises(ValidationError):
        validate("referral.create", {**envelope, "data": late})
    unreachable = json.loads(json.dumps(document))
    unreachable["customerProfile"]["team"][0]["email"] = "alex.wilber"
    with pytest.raises(ValidationError):
        validate("referral.create", {**envelope, "data": unreachable})


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
        envelope = json.loads(structured.value)
        validate("referral.event", envelope["data"])
        assert envelope["dataschema"] == SCHEMAS["referral.event"]["$id"]
        binary = encode_event(event, "events", "urn:test", structured=False)
        assert (b"ce_dataschema", SCHEMAS["referral.event"]["$id"].encode()) in [
            (name.encode(), value) for name, value in binary.headers
        ]
    rejection = encode_rejection(create, refused, "rejections", "urn:test", "t", structured=False)
    assert rejection.value is not None
    validate("referral.command.rejected", json.loads(rejection.value))
    assert ("ce_dataschema", SCHEMAS["referral.command.rejected"]["$id"].encode()) in (
        rejection.headers
    )


def test_the_expiry_schedulers_commands_match_the_expire_schema() -> None:
    candidate = ExpiryCandidate("r1", '"e1"', "org", NOW)
    validate("referral.expire", expire_command(candidate, "urn:x", b"secret"))


def test_the_asyncapi_document_names_the_configured_topics_and_resolves_its_refs() -> None:
    settings = Settings(commands_topic="in", events_topic="out", dlq_topic="dead")
    document = asyncapi(settings)

    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["version"] == package_version()
    assert document["servers"]["kafka"]["protocol"] == "kafka"
    assert document["servers"]["kafka"]["host"] == settings.kafka_bootstrap_servers
    addresses = {name: channel["address"] for name, channel in document["channels"].items()}
    assert addresses == {"commands": "in", "events": "out",
                         "rejections": "referral-rejections", "deadLetters": "dead"}  # fmt: skip
    assert len(document["channels"]["commands"]["messages"]) == 2 * len(CommandType)
    for ref in _refs(document):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def test_the_versions_differ_only_in_their_label_and_the_cli_offers_both(
    capsys: pytest.CaptureFixture[str],
) -> None:
    later = asyncapi(Settings(), "3.1.0")
    assert later == {**asyncapi(Settings()), "asyncapi": "3.1.0"}
    with pytest.raises(ValueError, match=r"3\.0\.0, 3\.1\.0"):
        asyncapi(Settings(), "2.6.0")
    assert main(["contract"]) == 0
    assert json.loads(capsys.readouterr().out)["asyncapi"] == "3.0.0"
    assert main(["contract", "--asyncapi-version", "3.1.0"]) == 0
    assert json.loads(capsys.readouterr().out) == later
    assert main(["contract", "--asyncapi-version", "2.6.0"]) != 0
    assert "3.0.0" in capsys.readouterr().err


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_message_and_component_schema_has_a_machine_name() -> None:
    document = asyncapi(Settings())
    for key, message in document["components"]["messages"].items():
        assert message["name"] == key
        assert " " not in key
    for key, schema in document["components"]["schemas"].items():
        assert MACHINE_TITLE.fullmatch(key), key
        assert schema.get("title", key) == key


def test_binary_commands_are_described_by_their_ce_headers() -> None:
    messages = asyncapi(Settings())["components"]["messages"]
    schemas = asyncapi(Settings())["components"]["schemas"]

    binary = messages["acceptReferralBinary"]
    headers = schemas[binary["headers"]["$ref"].rsplit("/", 1)[1]]
    assert binary["contentType"] == "application/json"
    assert {"ce_specversion", "ce_id", "ce_type", "ce_source", "ce_subject"} <= set(
        headers["required"]
    )
    assert {"ce_ifmatch", "ce_tenantid", "ce_traceparent"} <= set(headers["properties"])
    structured = messages["acceptReferralStructured"]
    assert structured["contentType"] == "application/cloudevents+json"


def test_the_document_describes_the_event_mode_in_force() -> None:
    binary = asyncapi(Settings(event_mode=EventMode.BINARY))
    structured = asyncapi(Settings(event_mode=EventMode.STRUCTURED))

    assert binary != structured
    event = structured["components"]["messages"]["referralEvent"]
    assert event["contentType"] == "application/cloudevents+json"
    assert event["payload"] == {"$ref": "#/components/schemas/ReferralEventCloudEvent"}
    assert binary["components"]["messages"]["referralEvent"]["contentType"] == "application/json"
    assert binary["components"]["messages"]["referralEvent"]["payload"] == {
        "$ref": "#/components/schemas/ReferralEvent"
    }
