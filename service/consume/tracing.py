"""OpenTelemetry tracing of the consume loop, off unless the standard ``OTEL_*`` variables
configure an exporter.

A command continues the trace its producer started: the W3C ``traceparent`` and
``tracestate`` of the CloudEvents distributed-tracing extension, read from ``ce_*``
headers in binary mode or from the envelope in structured mode (a plain ``traceparent``
header, as Kafka instrumentations write it, is read too). Each command gets a ``process``
span, child of its producer's span and linked to the span of its batch; the batch span's
children are the store transaction and the publish. Every event and rejection a command
causes carries its span's context as its own ``traceparent``/``tracestate``, so a
subscriber's trace continues. Off, every method is a constant that does nothing, so the
hot path pays one attribute check.
"""

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.consume.records import Incoming
from service.jsonio import loads
from service.otel import configured_exporters as configured_exporters
from service.otel import tracer_provider
from service.version import DISTRIBUTION, package_version

_NOTHING: Final = contextlib.nullcontext()
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACE_FIELDS: Final = ("traceparent", "tracestate")


class Tracing:
    """Spans of the consume loop on ``provider``; ``Tracing(None)`` traces nothing."""

    def __init__(self, provider: TracerProvider | None, consumer_group: str = "") -> None:
        self.provider = provider
        self.enabled = provider is not None
        self._tracer = provider.get_tracer(DISTRIBUTION, package_version()) if provider else None
        self._group = consumer_group
        self._commands: dict[tuple[str, int, int], trace.Span] = {}

    @classmethod
    def from_environment(
        cls, consumer_group: str = "", environ: Mapping[str, str] = os.environ
    ) -> "Tracing":
        return cls(tracer_provider(environ), consumer_group)

    def batch(self, records: int) -> AbstractContextManager[object]:
        """The span of one polled batch, current while it is handled; the spans of its
        commands end with it. An empty poll is not traced."""
        if self._tracer is None or not records:
            return _NOTHING
        return self._batch(records)

    @contextlib.contextmanager
    def _batch(self, records: int) -> Iterator[object]:
        assert self._tracer is not None
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.batch.message_count": records,
        }
        try:
            with self._tracer.start_as_current_span("referrals batch", attributes=attributes):
                yield None
        finally:
            for span in self._commands.values():
                span.end()
            self._commands.clear()

    def follow(self, incoming: list[Incoming]) -> list[Incoming]:
        """The records with the trace context their outcomes carry: a span per record,
        continuing its producer's trace."""
        if self._tracer is None:
            return incoming
        return [self._follow(item) for item in incoming]

    def _follow(self, item: Incoming) -> Incoming:
        assert self._tracer is not None
        sent = dict(item.producer_trace) if item.command else producer_context(item)
        parent = _PROPAGATOR.extract(sent)
        batch = trace.get_current_span().get_span_context()
        links = [trace.Link(batch)] if batch.is_valid else []
        span = self._tracer.start_span(
            f"process {item.topic}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes=self._attributes(item),
        )
        self._commands[(item.topic, item.partition, item.offset)] = span
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        return replace(item, trace=tuple(carrier.items()))

    def command(self, item: Incoming) -> AbstractContextManager[object]:
        """The span of one record current (for the lines logged while it is handled alone)."""
        span = self._commands.get((item.topic, item.partition, item.offset))
        if span is None:
            return _NOTHING
        return trace.use_span(span, end_on_exit=False)

    def span(self, name: str, records: int) -> AbstractContextManager[object]:
        """A child span of the current one (the store transaction, the publish) that
        handles ``records`` outgoing records."""
        if self._tracer is None:
            return _NOTHING
        return self._tracer.start_as_current_span(name, attributes={"referrals.records": records})

    def shutdown(self) -> None:
        """Export what is left and stop the exporters."""
        if self.provider is not None:
            self.provider.shutdown()

    def _attributes(self, item: Incoming) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": item.topic,
            "messaging.destination.partition.id": str(item.partition),
            "messaging.kafka.offset": item.offset,
            "messaging.consumer.group.name": self._group,
        }
        if item.command is not None:
            attributes["messaging.message.id"] = item.command.command_id
            attributes["cloudevents.event_id"] = item.command.command_id
            attributes["cloudevents.event_type"] = item.command.type.value
            if item.command.referral_id is not None:
                attributes["cloudevents.event_subject"] = item.command.referral_id
        elif item.error is not None:
            attributes["error.type"] = item.error.code
        return attributes


def producer_context(item: Incoming) -> dict[str, str]:
    """The producer's ``traceparent``/``tracestate`` of a record that is no command (the
    codec hands a command's over with it): the CloudEvents attributes of the record's
    mode, else plain headers."""
    headers = {name.lower(): raw for name, raw in item.headers if raw is not None}
    content_type = headers.get("content-type", b"").strip().lower()
    if content_type.startswith(b"application/cloudevents") or "ce_specversion" not in headers:
        found = _from_envelope(item.value)
    else:
        found = _from_headers(headers, "ce_")
    return found or _from_headers(headers, "")


def _from_headers(headers: Mapping[str, bytes], prefix: str) -> dict[str, str]:
    found = {}
    for name in _TRACE_FIELDS:
        raw = headers.get(prefix + name)
        if raw:
            found[name] = raw.decode("latin-1")
    return found if "traceparent" in found else {}


def _from_envelope(value: bytes | None) -> dict[str, str]:
    # Parsed again only when tracing is on and the envelope may carry the attribute.
    if not value or b'"traceparent"' not in value:
        return {}
    try:
        envelope = loads(value)
    except Exception:  # an unreadable record is dead-lettered by the codec; no parent here
        return {}
    if not isinstance(envelope, Mapping):
        return {}
    found = {name: envelope[name] for name in _TRACE_FIELDS if isinstance(envelope.get(name), str)}
    return found if "traceparent" in found else {}


#: Tracing off: what the consume loop uses unless it is given a provider.
NO_TRACING: Final = Tracing(None)
