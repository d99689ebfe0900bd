"""One command's trace runs from its producer's span through the service to the headers
of the events and rejections it causes (SDK in-memory exporter, real broker)."""

import logging
import uuid
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.consume.tracing import Tracing
from service.logs import stamp_traces
from service.settings import EventMode, Settings
from tests.support.faults import (
    failing_for_poison,
    failing_for_poison_documents,
    fast_path_failing_for_poison,
)
from tests.support.kafka_io import Producer, Received, collect, command
from tests.support.services import running

pytestmark = pytest.mark.broker


def _traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _context(traceparent: str) -> tuple[int, int]:
    """The trace id and parent span id of a W3C traceparent."""
    _version, trace_id, span_id, _flags = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


def _carrier(span: trace.Span) -> dict[str, str]:
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def _by_id(spans: Sequence[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {span.context.span_id: span for span in spans if span.context is not None}


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _trace_of(record: Received, structured: bool) -> str:
    return str(record.json["traceparent"]) if structured else record.header("ce_traceparent")


@pytest.mark.parametrize("mode", [EventMode.BINARY, EventMode.STRUCTURED])
async def test_a_commands_trace_runs_from_its_producer_to_its_events_and_rejections(
    settings: Settings, mode: EventMode
) -> None:
    settings = settings.model_copy(update={"event_mode": mode})
    structured = mode is EventMode.STRUCTURED
    provider, exporter = _traced()
    producer_tracer = provider.get_tracer("a producer")
    rid = f"ref-{uuid.uuid4()}"
    async with running(settings, Tracing(provider, settings.consumer_group)):
        async with Producer(settings) as producer:
            with producer_tracer.start_as_current_span("send create") as create_span:
                # binary mode: ce_traceparent (and ce_tracestate) headers
                carrier = {**_carrier(create_span), "tracestate": "vendor=1"}
                await producer.binary(
                    command("referral.create", rid, {"name": "traced"}, **carrier)
                )
            with producer_tracer.start_as_current_span("send accept") as accept_span:
                # structured mode: the attribute in the envelope
                missing = command(
                    "referral.accept", f"nobody-{uuid.uuid4()}", **_carrier(accept_span)
                )
                await producer.structured(missing)
        events = await collect(settings, [settings.events_topic], lambda got: len(got) == 1)
        rejections = await collect(settings, [settings.rejections_topic], lambda got: len(got) == 1)

    spans = _by_id(exporter.get_finished_spans())
    created_trace, created_parent = _context(_trace_of(events[0], structured))
    rejected_trace, rejected_parent = _context(_trace_of(rejections[0], structured))
    create_context, accept_context = create_span.get_span_context(), accept_span.get_span_context()
    assert created_trace == create_context.trace_id
    assert rejected_trace == accept_context.trace_id

    # The event's parent is the service's span of the command, a child of the producer's.
    processed = spans[created_parent]
    assert processed.name == f"process {settings.commands_topic}"
    assert processed.kind is trace.SpanKind.CONSUMER
    assert _parent_id(processed) == create_context.span_id
    assert processed.attributes is not None
    assert processed.attributes["cloudevents.event_type"] == "referral.create"
    assert processed.attributes["cloudevents.event_subject"] == rid
    tracestate = events[0].json["tracestate"] if structured else events[0].header("ce_tracestate")
    assert tracestate == "vendor=1"
    assert _parent_id(spans[rejected_parent]) == accept_context.span_id

    # The command's span links to its batch, whose children are the store write and publish.
    batch = spans[processed.links[0].context.span_id]
    assert batch.name == "referrals batch"
    children = {span.name for span in spans.values() if _parent_id(span) == _id(batch)}
    assert {"referrals store write", "referrals publish"} <= children


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


@pytest.fixture
def stamped_logs() -> Iterator[None]:
    original = logging.getLogRecordFactory()
    stamp_traces()
    yield
    logging.setLogRecordFactory(original)


@pytest.mark.usefixtures("stamped_logs")
@pytest.mark.parametrize("stage", ["decide", "store"])
async def test_log_lines_about_a_poison_command_carry_its_trace(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stage: str,
) -> None:
    """A decision that fails is dead-lettered in its batch; a write that fails isolates the
    batch first. Either way the dead letter's line carries the command's trace."""
    import service.consume.decision
    import service.store.sqlite_updates

    if stage == "decide":
        failing = failing_for_poison(service.consume.decision.decide, [])
        monkeypatch.setattr(service.consume.decision, "decide", failing)
        fast = fast_path_failing_for_poison(service.consume.decision.decide_fast)
        monkeypatch.setattr(service.consume.decision, "decide_fast", fast)
    else:
        failing = failing_for_poison_documents(service.store.sqlite_updates.referral_document, [])
        monkeypatch.setattr(service.store.sqlite_updates, "referral_document", failing)
    caplog.set_level(logging.WARNING, logger="service")
    provider, _ = _traced()
    async with running(settings, Tracing(provider, settings.consumer_group)):
        async with Producer(settings) as producer:
            with provider.get_tracer("a producer").start_as_current_span("send") as span:
                poison = command("referral.create", f"p-{uuid.uuid4()}", {"name": "poison"})
                await producer.structured({**poison, **_carrier(span)})
        await collect(settings, [settings.dlq_topic], lambda got: len(got) == 1)

    lines = {record.getMessage(): vars(record) for record in caplog.records}
    producer_trace = f"{span.get_span_context().trace_id:032x}"
    assert lines["poison record dead-lettered"]["trace_id"] == producer_trace
    if stage == "decide":
        assert "batch failed; isolating its records" not in lines
        return
    isolating = lines["batch failed; isolating its records"]
    assert isolating["trace_id"] != producer_trace  # the batch's own trace
    assert len(isolating["span_id"]) == 16
