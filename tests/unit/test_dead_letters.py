"""A dead letter can always be built: whatever a Kafka record carries, never an error, always
a fit, always encodable by the Kafka client, and a minimal form of a documented size."""

import hashlib

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.codec import OutgoingRecord
from service.dead_letter_codes import DeadLetterCode
from service.dead_letters import (
    ALTERED,
    HEADERS,
    MINIMAL_BYTES,
    encode_dead_letter,
    encode_minimal_dead_letter,
    headers_digest,
    record_bytes,
)
from service.store.rows import headers_from_text, headers_to_text

Header = tuple[str, bytes | None]
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

sizes = st.sampled_from([0, 1, 17, 4_095, 4_097, 40_000, 600_000, 1_100_000, 3_000_000])
blobs = st.one_of(st.binary(max_size=40), sizes.map(lambda size: b"\xab" * size))
#: Any text a header name may be: printable, control characters, and raw bytes decoded with
#: surrogateescape (lone surrogates the producer cannot encode).
names = st.one_of(
    st.text(max_size=12),
    st.binary(max_size=12).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    st.sampled_from(["", "x-error-code", "ce_id", "\udcff", "a\ud800b", "é" * 3000]),
)
headers = st.one_of(
    st.lists(st.tuples(names, st.none() | blobs), max_size=12),
    st.integers(1_000, 20_000).map(lambda count: [("h", b"v")] * count),
)
arguments = st.fixed_dictionaries(
    {
        "key": st.none() | blobs,
        "value": st.none() | blobs,
        "headers": headers,
        "code": st.sampled_from(list(DeadLetterCode)),
        "message": st.text(max_size=30) | st.just("\udc80" * 5000),
        "origin": st.tuples(
            st.text(max_size=300), st.none() | st.integers(0, 2**31), st.none() | st.integers(0)
        ),
        "max_bytes": st.sampled_from([MINIMAL_BYTES, 65_536, 1_000_000]),
    }
)


def encoded_size(letter: OutgoingRecord) -> int:
    """What aiokafka's record builder makes of the letter, as the producer would send it."""
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1, producer_epoch=-1,
        base_sequence=-1, batch_size=2**30,
    )  # fmt: skip
    # The producer refuses a record with neither key nor value before it builds anything.
    assert letter.key is not None or letter.value is not None
    metadata = builder.append(0, None, letter.key, letter.value, list(letter.headers))
    assert metadata is not None
    return int(metadata.size)


@PROPERTY
@given(given_arguments=arguments)
def test_a_dead_letter_is_always_built_fits_and_is_encodable(
    given_arguments: dict[str, object],
) -> None:
    letter = encode_dead_letter(topic="dlq", **given_arguments)  # type: ignore[arg-type]
    size = record_bytes(letter.key, letter.value, letter.headers)
    assert size <= given_arguments["max_bytes"]  # type: ignore[operator]
    assert encoded_size(letter) <= size


@PROPERTY
@given(given_arguments=arguments)
def test_a_minimal_dead_letter_is_small_encodable_and_says_what_it_replaced(
    given_arguments: dict[str, object],
) -> None:
    del given_arguments["max_bytes"]
    letter = encode_minimal_dead_letter(topic="dlq", **given_arguments)  # type: ignore[arg-type]
    assert record_bytes(letter.key, letter.value, letter.headers) <= MINIMAL_BYTES
    assert encoded_size(letter) <= MINIMAL_BYTES
    got = dict(letter.headers)
    original: list[Header] = given_arguments["headers"]  # type: ignore[assignment]
    value: bytes = given_arguments["value"] or b""  # type: ignore[assignment]
    key: bytes | None = given_arguments["key"]  # type: ignore[assignment]
    assert set(got) <= set(HEADERS)
    assert got["x-original-headers-dropped"] == str(len(original)).encode()
    assert got["x-original-headers-sha256"] == headers_digest(original).encode()
    assert got["x-original-sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert letter.key == (None if key is None else hashlib.sha256(key).hexdigest().encode())
    assert value.startswith(letter.value or b"")


@PROPERTY
@given(given_arguments=arguments)
def test_a_letter_not_marked_altered_is_the_record_as_it_came(
    given_arguments: dict[str, object],
) -> None:
    letter = encode_dead_letter(topic="dlq", **given_arguments)  # type: ignore[arg-type]
    if any(name in ALTERED for name, _ in letter.headers):
        return
    original: list[Header] = given_arguments["headers"]  # type: ignore[assignment]
    value = given_arguments["value"]
    if given_arguments["key"] is None and value is None:
        assert dict(letter.headers)["x-original-value-null"] == b"true"
        value = b""
    assert (letter.key, letter.value) == (given_arguments["key"], value)
    assert list(letter.headers[: len(original)]) == original


@PROPERTY
@given(original=st.lists(st.tuples(st.text(max_size=8), st.none() | st.binary(max_size=8))))
def test_header_values_that_are_none_round_trip_through_the_outbox_text(
    original: list[Header],
) -> None:
    assert headers_from_text(headers_to_text(tuple(original))) == tuple(original)


def test_a_header_name_the_producer_cannot_encode_is_left_out_and_counted() -> None:
    raw_name = b"trace\xff".decode("utf-8", "surrogateescape")
    letter = encode_dead_letter(
        topic="dlq", key=None, value=b"v", headers=[(raw_name, b"1"), ("kept", None)],
        code=DeadLetterCode.UNREADABLE_RECORD, message="m", origin=("t", 0, 1), max_bytes=65_536,
    )  # fmt: skip
    assert ("kept", None) in letter.headers
    assert all(name != raw_name for name, _ in letter.headers)
    assert dict(letter.headers)["x-original-headers-dropped"] == b"1"
    assert encoded_size(letter) > 0


def test_a_key_of_megabytes_and_a_message_with_lone_surrogates_still_fit() -> None:
    letter = encode_dead_letter(
        topic="dlq", key=b"k" * 3_000_000, value=None, headers=[("h", None)],
        code=DeadLetterCode.NOT_JSON, message="bad \udcff text " * 500, origin=("t", 0, 1),
        max_bytes=65_536,
    )  # fmt: skip
    got = dict(letter.headers)
    assert letter.key == b"k" * 4096
    assert got["x-truncated"] == b"true"
    assert got["x-error-message"].startswith(b"bad ? text")
    assert len(got["x-error-message"]) <= 1000
