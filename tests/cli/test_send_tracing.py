"""``referrals send`` starts the trace its commands' processing continues: the command line
exports its producer spans where the OTEL_* variables say (an OTLP/HTTP receiver here),
and the service's span of each command (SDK in-memory exporter) is its child, on a real
broker, with the event carrying the same trace onwards."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.cli.exits import ExitStatus
from service.client.tracing import CLI_SERVICE_NAME
from service.consume.tracing import Tracing
from service.settings import Settings
from tests.support.cli_runner import referrals
from tests.support.otlp_receiver import Receiver, otlp_receiver
from tests.support.services import running

pytestmark = pytest.mark.broker


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """Where the command line (a child given this environment) exports its spans."""
    with otlp_receiver() as receiving:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiving.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        yield receiving


def _service_spans() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


def _processed(spans: InMemorySpanExporter, topic: str) -> dict[int, ReadableSpan]:
    """The service's spans of commands, by the id of their parent (the producer's span)."""
    return {
        span.parent.span_id: span
        for span in spans.get_finished_spans()
        if span.name == f"process {topic}" and span.parent is not None
    }


def _trace_id(traceparent: str) -> int:
    return int(traceparent.split("-")[1], 16)


def _span_id(span: Span) -> int:
    return int.from_bytes(span.span_id, "big")


async def test_a_sent_commands_trace_runs_from_the_command_line_through_the_service(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    referral = tmp_path / "referral.json"
    referral.write_text(json.dumps({"id": f"traced-{uuid.uuid4()}", "name": "Traced"}))
    tracing, service_spans = _service_spans()
    async with running(settings, tracing):
        ran = await referrals(settings, "--json", "send", str(referral))
    assert ran.status == ExitStatus.OK, ran.stderr

    [sent] = receiver.named(f"send {settings.commands_topic}")
    assert sent.service_name == CLI_SERVICE_NAME
    assert sent.span.kind == Span.SpanKind.SPAN_KIND_PRODUCER
    attributes = {a.key: a.value for a in sent.span.attributes}
    assert attributes["messaging.system"].string_value == "kafka"
    assert attributes["messaging.destination.name"].string_value == settings.commands_topic
    [answer] = ran.json_lines()
    assert attributes["messaging.message.id"].string_value == answer["command"]
    assert attributes["messaging.kafka.offset"].int_value == answer["offset"]

    processed = _processed(service_spans, settings.commands_topic)[_span_id(sent.span)]
    assert processed.context.trace_id == int.from_bytes(sent.span.trace_id, "big")
    assert processed.kind is trace.SpanKind.CONSUMER
    [event] = answer["events"]
    assert _trace_id(event["traceparent"]) == processed.context.trace_id


async def test_a_bulk_send_is_one_create_span_per_command_linked_from_one_send_span(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    commands = tmp_path / "commands.ndjson"
    ids = [f"bulk-{n}-{uuid.uuid4()}" for n in range(3)]
    commands.write_text("".join(json.dumps({"id": i, "name": "Bulk"}) + "\n" for i in ids))
    tracing, service_spans = _service_spans()
    async with running(settings, tracing):
        ran = await referrals(settings, "--json", "send", "--ndjson", str(commands))
    assert ran.status == ExitStatus.OK, ran.stderr

    topic = settings.commands_topic
    created = receiver.named(f"create {topic}")
    [batch] = receiver.named(f"send {topic}")
    assert len(created) == 3
    assert len({bytes(c.span.trace_id) for c in created}) == 3  # a trace per command
    assert all(c.span.kind == Span.SpanKind.SPAN_KIND_PRODUCER for c in created)
    assert batch.span.kind == Span.SpanKind.SPAN_KIND_CLIENT
    linked = {bytes(link.span_id) for link in batch.span.links}
    assert linked == {bytes(c.span.span_id) for c in created}

    processed = _processed(service_spans, topic)
    for create in created:
        child = processed[_span_id(create.span)]
        assert child.context.trace_id == int.from_bytes(create.span.trace_id, "big")
