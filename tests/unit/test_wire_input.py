"""Reading records: bounded JSON, the CloudEvents modes, attribute shapes, dead-letter fitting."""

import hashlib
from decimal import Decimal

import pytest

from service.codec import Undecodable, WireLimits, decode_command
from service.dead_letters import encode_dead_letter, record_bytes
from service.jsonio import JsonRefused, dumps, loads
from state import CommandType

STRUCTURED = (("content-type", b"application/cloudevents+json"),)
LIMITS = WireLimits(max_bytes=65_536, max_attribute_length=64)


def envelope(**attributes: object) -> bytes:
    value = {"specversion": "1.0", "id": "c-1", "type": "referral.accept", "source": "u",
             "subject": "r-1", **attributes}  # fmt: skip
    return dumps({k: v for k, v in value.items() if v is not None})


def code_of(value: bytes | None, headers: tuple[tuple[str, bytes], ...] = STRUCTURED) -> str:
    with pytest.raises(Undecodable) as caught:
        decode_command(value, headers, LIMITS)
    return caught.value.code


@pytest.mark.parametrize("depth", [1_100, 5_000, 100_000])
def test_nesting_beyond_the_parser_limit_is_refused_without_recursion(depth: int) -> None:
    with pytest.raises(JsonRefused, match="too deep"):
        loads(b"[" * depth + b"]" * depth)


def test_fractions_and_wide_integers_are_exact_and_narrow_integers_stay_int() -> None:
    parsed = loads(
        b'{"a": 0.1, "b": 123456789012345678901234567890, "c": 7, "d": 18446744073709551615}'
    )
    assert parsed == {"a": Decimal("0.1"), "b": Decimal("123456789012345678901234567890"),
                      "c": 7, "d": 18446744073709551615}  # fmt: skip
    assert isinstance(parsed["c"], int)
    assert (
        dumps(parsed)
        == b'{"a":0.1,"b":123456789012345678901234567890,"c":7,"d":18446744073709551615}'
    )


def test_numbers_beyond_the_double_range_stay_exact_and_encodable() -> None:
    parsed = loads(b'{"a": 1e400, "b": -2.5E-400, "c": 1' + b"0" * 400 + b"}")
    assert parsed["a"] == Decimal("1e400")
    assert parsed["c"] == Decimal("1" + "0" * 400)
    assert loads(dumps(parsed)) == parsed


@pytest.mark.parametrize(
    "raw", [b'"\\ud800"', b'"x\\udc00"', b'"\xed\xa0\x80"', b'"\xff"', b"NaN", b"[1,]", b""]
)
def test_text_that_is_not_json_the_service_reads_is_refused_without_quoting_it(raw: bytes) -> None:
    with pytest.raises(JsonRefused) as caught:
        loads(raw)
    assert "\\ud800" not in str(caught.value)


def test_content_type_decides_the_mode_even_with_a_stray_ce_header() -> None:
    headers = (*STRUCTURED, ("ce_specversion", b"1.0"))
    command = decode_command(envelope(), headers, LIMITS)
    assert command.type is CommandType.ACCEPT
    assert command.referral_id == "r-1"


def test_binary_mode_reads_attributes_from_headers_and_data_from_the_value() -> None:
    headers = (("ce_specversion", b"1.0"), ("ce_id", b"c-2"), ("ce_type", b"referral.win"),
               ("ce_source", b"u"), ("ce_subject", b"r-2"))  # fmt: skip
    command = decode_command(b'{"statusReason": "signed"}', headers, LIMITS)
    assert (command.command_id, command.type, command.data) == (
        "c-2", CommandType.WIN, {"statusReason": "signed"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ({"subject": "x" * 65}, "invalid-attribute"),
        ({"subject": "a\x00b"}, "invalid-attribute"),
        ({"tenantid": 5}, "invalid-attribute"),
        ({"correlationid": ["a"]}, "invalid-attribute"),
        ({"ifmatch": "\u0085"}, "invalid-attribute"),
        ({"type": "referral.delete"}, "unknown-type"),
        ({"specversion": "0.3"}, "not-cloudevent"),
        ({"id": None}, "not-cloudevent"),
        ({"subject": None}, "not-cloudevent"),
    ],
)
def test_an_envelope_with_a_bad_attribute_is_dead_lettered_with_a_specific_code(
    attributes: dict[str, object], code: str
) -> None:
    assert code_of(envelope(**attributes)) == code


def test_bad_base64_data_and_oversized_records_are_dead_letters() -> None:
    assert code_of(envelope(data_base64="%%%")) == "not-json"
    assert code_of(b" " * (LIMITS.max_bytes + 1)) == "too-large"
    assert code_of(None) == "not-json"


def test_a_dead_letter_that_fits_is_a_byte_for_byte_copy() -> None:
    letter = encode_dead_letter(
        topic="dlq", key=b"k", value=b"v", headers=[("h", b"1")],
        code="not-json", message="m", origin=("t", 1, 2), max_bytes=4096,
    )  # fmt: skip
    assert (letter.key, letter.value) == (b"k", b"v")
    assert dict(letter.headers) == {"h": b"1", "x-error-code": b"not-json", "x-error-message": b"m",
                                    "x-original-topic": b"t", "x-original-partition": b"1",
                                    "x-original-offset": b"2"}  # fmt: skip


@pytest.mark.parametrize("header_bytes", [0, 10, 600_000])
def test_a_dead_letter_too_large_for_a_record_is_cut_to_fit_and_says_so(header_bytes: int) -> None:
    value = bytes(range(256)) * 8_000
    headers = [("big", b"h" * header_bytes)] if header_bytes else []
    letter = encode_dead_letter(topic="dlq", key=b"k" * 10_000, value=value, headers=headers,
                                code="too-large", message="m", origin=("t", 0, 9),
                                max_bytes=1_000_000)  # fmt: skip
    got = dict(letter.headers)
    assert record_bytes(letter.key, letter.value, letter.headers) <= 1_000_000
    assert got["x-truncated"] == b"true"
    assert got["x-original-size"] == str(len(value)).encode()
    assert got["x-original-sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert letter.value == value[: len(letter.value or b"")]
    assert letter.key == b"k" * 4096
    assert ("big" in got) == (0 < header_bytes < 400_000)
    assert ("x-original-headers-dropped" in got) == (header_bytes >= 400_000)


BINARY = (("ce_specversion", b"1.0"), ("ce_id", b"c-9"), ("ce_type", b"referral.patch"),
          ("ce_source", b"u"), ("ce_subject", b"r-9"))  # fmt: skip
PATCH = b'[{"op": "replace", "path": "/name", "value": "n"}]'


@pytest.mark.parametrize("name", ["ifMatch", "IfMatch", "TenantId", "Type", "ID", "dataSchema"])
def test_a_structured_attribute_in_another_case_is_refused_never_ignored(name: str) -> None:
    assert code_of(envelope(**{name: "x"})) == "misspelled-attribute"


@pytest.mark.parametrize("name", ["ce_ifMatch", "Ce_Type", "CE_ID", "CE_IFMATCH", "ce_TenantId"])
def test_a_binary_header_in_another_case_is_refused_never_ignored(name: str) -> None:
    assert code_of(PATCH, (*BINARY, (name, b"x"))) == "misspelled-attribute"


def test_an_unknown_attribute_in_any_case_is_still_ignored() -> None:
    assert decode_command(envelope(Extra="x"), STRUCTURED, LIMITS).type is CommandType.ACCEPT
    assert decode_command(PATCH, (*BINARY, ("Ce_Extra", b"x")), LIMITS).referral_id == "r-9"


@pytest.mark.parametrize("name", ["ce_id", "ce_type", "ce_ifmatch", "ce_stray"])
def test_a_ce_header_given_twice_is_refused(name: str) -> None:
    headers = (*BINARY, (name, b"first"), (name, b"second"))
    if name in dict(BINARY):
        headers = (*BINARY, (name, b"second"))
    assert code_of(PATCH, headers) == "duplicate-attribute"


@pytest.mark.parametrize(
    "value",
    [
        b'{"specversion":"1.0","id":"a","id":"b","type":"referral.accept","source":"u","subject":"r"}',
        b'{"specversion":"1.0","id":"a","type":"referral.accept","source":"u","subject":"r","subject":"s"}',
        b'{"specversion":"1.0","id":"a","type":"referral.create","source":"u","data":{"name":"x","name":"y"}}',
        b'{"specversion":"1.0","id":"a","type":"referral.create","source":"u","data":{"a":[{"b":1,"b":2}]}}',
    ],
)
def test_a_key_named_twice_in_one_json_object_is_refused_at_any_depth(value: bytes) -> None:
    assert code_of(value) == "duplicate-key"
    twice_in_a_patch = b'[{"op": "replace", "op": "add", "path": "/name", "value": "n"}]'
    assert code_of(twice_in_a_patch, BINARY) == "duplicate-key"


@pytest.mark.parametrize("second", ["content-type", "Content-Type"])
def test_content_type_given_twice_is_refused_in_either_mode(second: str) -> None:
    assert code_of(envelope(), (*STRUCTURED, (second, b"application/json"))) == (
        "duplicate-attribute"
    )
    binary = (*BINARY, ("content-type", b"application/json"), (second, b"application/json"))
    assert code_of(PATCH, binary) == "duplicate-attribute"


@pytest.mark.parametrize(
    "media_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
     "application/merge-patch+json", "application/vnd.contoso.referral+json; v=2"],
)  # fmt: skip
def test_json_data_in_any_declared_json_type_is_read(media_type: str) -> None:
    command = decode_command(envelope(datacontenttype=media_type), STRUCTURED, LIMITS)
    assert command.type is CommandType.ACCEPT
    binary = decode_command(PATCH, (*BINARY, ("content-type", media_type.encode())), LIMITS)
    assert binary.data == [{"op": "replace", "path": "/name", "value": "n"}]


@pytest.mark.parametrize(
    "media_type",
    ["application/xml", "text/plain", "application/json; charset=latin-1", "json", "", "*/*",
     "application/jsonx", "application/octet-stream"],
)  # fmt: skip
def test_data_declared_as_anything_but_json_is_refused_in_either_mode(media_type: str) -> None:
    assert code_of(envelope(datacontenttype=media_type)) == "unsupported-content-type"
    binary = (*BINARY, ("content-type", media_type.encode()))
    assert code_of(PATCH, binary) == "unsupported-content-type"


def test_a_datacontenttype_that_is_not_text_is_refused() -> None:
    assert code_of(envelope(datacontenttype=5)) == "unsupported-content-type"
