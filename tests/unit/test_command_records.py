"""Commands written by the service's own producers, and its output read back, in either mode."""

from decimal import Decimal

import pytest

from service.codec import (
    WireLimits,
    command_envelope,
    command_record,
    decode_command,
    encode_event,
    encode_rejection,
    read_cloudevent,
)
from state import Command, CommandType, decide
from tests.support.builders import NOW, REFERRAL_ID, TENANT, applied, command, rejected

PATCH = [{"op": "replace", "path": "/details/dealValue", "value": Decimal("12.50")}]


@pytest.mark.parametrize("structured", [True, False])
def test_a_command_written_in_either_mode_reads_back_as_the_same_command(
    structured: bool,
) -> None:
    envelope = command_envelope(
        CommandType.PATCH.value,
        "c1",
        "urn:test",
        REFERRAL_ID,
        PATCH,
        ifmatch='"e1"',
        tenantid=TENANT,
        correlationid="flow-1",
    )
    record = command_record(envelope, structured=structured)

    assert record.key == REFERRAL_ID.encode()
    assert decode_command(record.value, record.headers, WireLimits()) == Command(
        type=CommandType.PATCH,
        command_id="c1",
        referral_id=REFERRAL_ID,
        data=PATCH,
        if_match='"e1"',
        correlation_id="flow-1",
        tenant_id=TENANT,
        declared_tenant_id=TENANT,
    )


def test_a_command_envelope_leaves_out_an_empty_subject_data_and_extensions() -> None:
    envelope = command_envelope(
        CommandType.CREATE.value, "c1", "urn:test", None, None, tenantid=None, ifmatch=""
    )

    assert envelope == {
        "specversion": "1.0",
        "id": "c1",
        "type": "referral.create",
        "source": "urn:test",
    }
    assert command_record(envelope).key is None


def test_a_structured_command_lists_its_attributes_before_its_data() -> None:
    envelope = command_envelope(
        "referral.accept", "c1", "urn:test", "r1", {"statusReason": "ok"}, ifmatch='"e"'
    )

    assert command_record(envelope).value == (
        b'{"specversion":"1.0","id":"c1","type":"referral.accept","source":"urn:test",'
        b'"subject":"r1","ifmatch":"\\"e\\"","data":{"statusReason":"ok"}}'
    )


@pytest.mark.parametrize("structured", [True, False])
def test_events_and_rejections_read_back_with_their_attributes_and_data(structured: bool) -> None:
    create = command(CommandType.CREATE, {}, command_id="c1")
    made = applied(decide(None, create, NOW))
    refused = rejected(decide(made.record, create, NOW))
    event = encode_event(made.events[0], "events", "urn:test", structured)
    rejection = encode_rejection(create, refused, "rejections", "urn:test", "t", structured)

    read_event = read_cloudevent(event.value, event.headers)
    read_rejection = read_cloudevent(rejection.value, rejection.headers)

    assert read_event["type"] == "referral.created"
    assert read_event["causationid"] == "c1"
    assert read_event["data"]["referralId"] == REFERRAL_ID
    assert read_rejection["type"] == "referral.command.rejected"
    assert read_rejection["subject"] == REFERRAL_ID
    assert read_rejection["data"]["commandId"] == "c1"
