"""Tracing is off unless the standard OTEL_* variables configure an exporter; off, it
changes nothing; on, it reads a producer's context in either CloudEvents mode."""

import contextlib

import pytest

from service.consume.records import Incoming
from service.consume.tracing import NO_TRACING, Tracing, configured_exporters, producer_context
from service.errors import ConfigurationError
from service.jsonio import dumps

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
