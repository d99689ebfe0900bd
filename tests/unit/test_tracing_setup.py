"""Tracing is off unless the standard OTEL_* variables configure an exporter; off, it
changes nothing; on, it reads a producer's context in either CloudEvents mode."""

import contextlib

import pytest

from service.codec import WireLimits
from service.consume.records import Incoming, read_record
from service.consume.tracing import NO_TRACING, Tracing, configured_exporters, producer_context
from service.errors import ConfigurationError
from service.jsonio import dumps
from service.kafka import PolledRecord

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _record(value: bytes | None, *headers: tuple[str, bytes]) -> Incoming:
    return Incoming("commands", 0, 7, 0, b"r1", value, headers, None, None)


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "referrals"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_exporters_come_only_from_the_otel_variables(
    environ: dict[str, str], exporters: list[str]
) -> None:
    assert configured_exporters(environ) == exporters


def test_unconfigured_tracing_is_off_and_hands_records_back_untouched() -> None:
    tracing = Tracing.from_environment(environ={})
    records = [_record(b"{}")]

    assert not tracing.enabled
    assert tracing.follow(records) is records
    assert isinstance(tracing.batch(3), contextlib.nullcontext)
    assert isinstance(tracing.span("referrals publish", 1), contextlib.nullcontext)
    assert isinstance(NO_TRACING.command(records[0]), contextlib.nullcontext)


def test_an_otlp_endpoint_turns_tracing_on_and_an_unsupported_protocol_is_refused() -> None:
    tracing = Tracing.from_environment(
        environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "x"}
    )
    assert tracing.enabled
    tracing.shutdown()
    with pytest.raises(ConfigurationError, match="http/protobuf"):
        Tracing.from_environment(
            environ={"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        )
    with pytest.raises(ConfigurationError, match="zipkin"):
        Tracing.from_environment(environ={"OTEL_TRACES_EXPORTER": "zipkin"})


def test_the_producer_context_is_read_from_the_records_mode() -> None:
    binary = _record(
        b"{}",
        ("ce_specversion", b"1.0"),
        ("ce_traceparent", PARENT.encode()),
        ("ce_tracestate", b"v=1"),
    )
    envelope = {"specversion": "1.0", "traceparent": PARENT, "data": {"traceparent": "no"}}
    structured = _record(dumps(envelope), ("content-type", b"application/cloudevents+json"))
    plain = _record(b"{}", ("ce_specversion", b"1.0"), ("traceparent", PARENT.encode()))

    assert producer_context(binary) == {"traceparent": PARENT, "tracestate": "v=1"}
    assert producer_context(structured) == {"traceparent": PARENT}
    assert producer_context(plain) == {"traceparent": PARENT}
    assert producer_context(_record(b'not json {"traceparent"')) == {}
    assert producer_context(_record(None)) == {}


def test_the_codec_hands_a_commands_trace_context_over_with_it() -> None:
    """The codec reads the binding once: a command comes with its producer's context, the
    same ``producer_context`` reads from a record that is no command."""
    envelope = {
        "specversion": "1.0", "id": "c-1", "type": "referral.accept", "source": "t",
        "subject": "r1", "traceparent": PARENT, "tracestate": "v=1",
    }  # fmt: skip
    binary = [(f"ce_{name}", str(value).encode()) for name, value in envelope.items()]
    structured = [("content-type", b"application/cloudevents+json")]
    plain_parent = {k: v for k, v in envelope.items() if k not in ("traceparent", "tracestate")}
    plain = [*structured, ("traceparent", PARENT.encode())]
    limits = WireLimits()

    for value, headers in ((dumps(envelope), structured), (b"", binary)):
        item = read_record(PolledRecord("commands", 0, 1, 0, b"r1", value, headers), limits)
        assert item.command is not None
        assert dict(item.producer_trace) == {"traceparent": PARENT, "tracestate": "v=1"}
        assert dict(item.producer_trace) == producer_context(item)
    with_plain = PolledRecord("commands", 0, 1, 0, b"r1", dumps(plain_parent), plain)
    assert read_record(with_plain, limits).producer_trace == (("traceparent", PARENT),)
    bare = PolledRecord("commands", 0, 1, 0, b"r1", dumps(plain_parent), structured)
    assert read_record(bare, limits).producer_trace == ()
