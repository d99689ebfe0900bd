"""The Kafka binding as the official CloudEvents Python SDK speaks it: commands it builds
are read in both modes, and the events and rejections the service emits are read back by
it with every attribute the service sets."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cloudevents.v1.http import CloudEvent
from cloudevents.v1.kafka import (
    KafkaMessage,
    from_binary,
    from_structured,
    to_binary,
    to_structured,
)

from service.codec import (
    EVENT_SCHEMA_ID,
    REJECTION_SCHEMA_ID,
    OutgoingRecord,
    Undecodable,
    WireLimits,
    decode_command,
    encode_event,
    encode_rejection,
)
from state import Applied, Command, CommandType, Rejected, decide

EXAMPLES = Path(__file__).parents[2] / "examples"
NOW = datetime(2026, 11, 24, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _sdk_command(command_type: str, data: Any = None, **attributes: str) -> CloudEvent:
    return CloudEvent(
        {
            "type": command_type,
            "source": "urn:partner:fabrikam:crm",
            "datacontenttype": "application/json",
            **attributes,
        },
        data,
    )


def _decode(message: KafkaMessage) -> Command:
    value = message.value if isinstance(message.value, bytes) else message.value.encode()
    return decode_command(value, list(message.headers.items()), WireLimits())


def _as_message(record: OutgoingRecord) -> KafkaMessage:
    assert record.value is not None
    return KafkaMessage(dict(record.headers), record.key, record.value)


@pytest.mark.parametrize("convert", [to_binary, to_structured], ids=["binary", "structured"])
def test_commands_the_sdk_builds_are_read_in_either_mode(convert: Any) -> None:
    document = json.loads((EXAMPLES / "referral.json").read_text())
    create = _sdk_command(
        "referral.create", document, id="c-1", subject="contoso-001", correlationid="k-1"
    )
    accept = _sdk_command(
        "referral.accept",
        {"statusReason": "ready"},
        id="c-2",
        subject="contoso-001",
        ifmatch='"e1"',
        tenantid="org-1",
        traceparent=TRACEPARENT,
        partitionkey="contoso-001",
    )

    created, accepted = _decode(convert(create)), _decode(convert(accept))

    assert (created.type, created.command_id, created.referral_id) == (
        CommandType.CREATE,
        "c-1",
        "contoso-001",
    )
    assert created.correlation_id == "k-1"
    assert created.data == json.loads(json.dumps(document), parse_float=Decimal)
    assert (accepted.type, accepted.if_match, accepted.tenant_id) == (
        CommandType.ACCEPT,
        '"e1"',
        "org-1",
    )
    assert accepted.data == {"statusReason": "ready"}


def test_a_structured_record_with_stray_ce_headers_is_read_as_structured() -> None:
    envelope = {"specversion": "1.0", "id": "c-3", "type": "referral.win", "source": "urn:x",
                "subject": "r-1"}  # fmt: skip
    headers = [
        ("ce_specversion", b"0.3"),
        ("ce_type", b"not.a.command"),
        ("ce_stray", b"\xff\xfe"),
        ("content-type", b"application/cloudevents+json; charset=utf-8"),
    ]

    command = decode_command(json.dumps(envelope).encode(), headers, WireLimits())

    assert (command.type, command.command_id, command.referral_id) == (
        CommandType.WIN,
        "c-3",
        "r-1",
    )


def test_a_binary_record_is_still_read_from_its_headers() -> None:
    headers = [(f"ce_{k}", v.encode()) for k, v in
               {"specversion": "1.0", "id": "c-4", "type": "referral.lose", "source": "urn:x",
                "subject": "r-1"}.items()]  # fmt: skip
    with pytest.raises(Undecodable):
        decode_command(b"not json", headers, WireLimits())
    assert decode_command(None, headers, WireLimits()).type is CommandType.LOSE


def _outputs() -> tuple[list[Any], Command, Rejected]:
    create = Command(type=CommandType.CREATE, command_id="c1", referral_id="r1",
                     correlation_id="k1", data={"name": "Contoso"})  # fmt: skip
    applied = decide(None, create, NOW)
    assert isinstance(applied, Applied)
    refused = decide(applied.record, create, NOW)
    assert isinstance(refused, Rejected)
    return list(applied.events), create, refused


def _attributes(event: Any) -> Mapping[str, Any]:
    return {name: value for name, value in event.get_attributes().items()}


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
def test_the_sdk_reads_emitted_events_with_every_attribute(structured: bool) -> None:
    events, _, _ = _outputs()
    record = encode_event(events[0], "events", "urn:referral-lifecycle", structured)

    read = (from_structured if structured else from_binary)(_as_message(record))

    attributes = _attributes(read)
    assert attributes["specversion"] == "1.0"
    assert attributes["type"] == "referral.created"
    assert attributes["id"] == events[0].event_id
    assert attributes["source"] == "urn:referral-lifecycle"
    assert attributes["subject"] == "r1"
    assert attributes["dataschema"] == EVENT_SCHEMA_ID
    assert attributes["causationid"] == "c1"
    assert attributes["correlationid"] == "k1"
    if not structured:  # structured: the SDK takes the record's content-type header for it
        assert attributes["datacontenttype"] == "application/json"
    data = read.get_data()
    data = json.loads(data) if isinstance(data, bytes) else data
    assert data["referralId"] == "r1"
    assert data["version"] == 1
    assert data["referral"]["name"] == "Contoso"


@pytest.mark.parametrize("structured", [False, True], ids=["binary", "structured"])
def test_the_sdk_reads_rejections(structured: bool) -> None:
    _, create, refused = _outputs()
    record = encode_rejection(create, refused, "rejections", "urn:r", "2026-11-24T00:00:00Z",
                              structured)  # fmt: skip

    read = (from_structured if structured else from_binary)(_as_message(record))

    attributes = _attributes(read)
    assert attributes["type"] == "referral.command.rejected"
    assert attributes["dataschema"] == REJECTION_SCHEMA_ID
    assert attributes["causationid"] == "c1"
    data = read.get_data()
    data = json.loads(data) if isinstance(data, bytes) else data
    assert data["code"] == "conflict"
    assert data["commandId"] == "c1"
