"""``referrals send``'s spans without a broker: off they add nothing to a record; on, an
envelope naming its own trace keeps it and the command line's span joins that trace."""

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.client.outcomes import outgoing
from service.client.tracing import NO_TRACING, SendTracing
from service.codec import command_envelope

ORIGIN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_untraced_sending_adds_no_header() -> None:
    command = outgoing(command_envelope("referral.accept", "c-1", "urn:t", "r-1"))
    with NO_TRACING.sending("commands", [command]) as sent:
        assert sent.headers(0) == []


def test_an_envelopes_own_trace_is_kept_and_the_send_span_joins_it() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    envelope = command_envelope(
        "referral.accept", "c-1", "urn:t", "r-1", traceparent=ORIGIN, tracestate="v=1"
    )
    command = outgoing(envelope)
    assert command.origin == (("traceparent", ORIGIN), ("tracestate", "v=1"))
    with SendTracing(provider).sending("commands", [command]) as sent:
        headers = dict(sent.headers(0))
    [span] = spans.get_finished_spans()
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == ORIGIN.split("-")[2]
    _, trace_id, span_id, _ = headers["traceparent"].decode().split("-")
    assert (trace_id, span_id) == (ORIGIN.split("-")[1], f"{span.context.span_id:016x}")
    assert headers["tracestate"] == b"v=1"
    assert b'"traceparent":"' + ORIGIN.encode() in (command.record.value or b"")  # unchanged
