"""The producer spans of ``referrals send``, as OpenTelemetry's messaging conventions draw
them; off unless the standard ``OTEL_*`` variables configure an exporter (the service's).

One command is one ``send <topic>`` span (kind producer): its context is the command's
creation context, sent with the record as the W3C ``traceparent``/``tracestate`` headers
that the service's span of the command continues. Several commands (``--ndjson``) are a
``create <topic>`` span (producer) each, every one the creation context of its own command
and the root of its own trace, and one ``send <topic>`` span (kind client) for the whole
batch, linked to them (as many as the SDK keeps: ``OTEL_SPAN_LINK_COUNT_LIMIT``, 128).
A command whose envelope carries its own ``traceparent`` keeps it (CloudEvents: the
context of the event's origin, which the service continues); the command line's span joins
that trace as its child.
"""

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Protocol

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.otel import tracer_provider
from service.version import DISTRIBUTION, package_version

#: The ``service.name`` of the command line's spans unless ``OTEL_SERVICE_NAME`` says.
CLI_SERVICE_NAME: Final = "referrals-cli"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
Headers = list[tuple[str, bytes]]


class Traced(Protocol):
    """What the spans need of a command: its id and the trace context its envelope names."""

    @property
    def command_id(self) -> str | None: ...

    @property
    def origin(self) -> tuple[tuple[str, str], ...]: ...


class Sent:
    """The spans of one send: each command's trace headers, and what the broker answered."""

    def __init__(self, batch: trace.Span | None = None, headers: Sequence[Headers] = ()) -> None:
        self._batch = batch
        self._headers = list(headers)

    def headers(self, index: int) -> Headers:
        """The trace headers of the ``index``-th command (none when not traced)."""
        return self._headers[index] if self._headers else []

    def acknowledged(self, partition: int, offset: int) -> None:
        """Where the broker wrote a lone command (not said of a batch: its commands differ)."""
        if self._batch is not None:
            self._batch.set_attribute("messaging.destination.partition.id", str(partition))
            self._batch.set_attribute("messaging.kafka.offset", offset)


_UNTRACED: Final = Sent()


class SendTracing:
    """Spans of ``referrals send`` on ``provider``; ``SendTracing(None)`` traces nothing."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer(DISTRIBUTION, package_version()) if provider else None

    @classmethod
    def configured(cls, environ: Mapping[str, str] = os.environ) -> "SendTracing":
        return cls(tracer_provider(environ, CLI_SERVICE_NAME))

    @contextlib.contextmanager
    def sending(self, topic: str, commands: Sequence[Traced]) -> Iterator[Sent]:
        """The spans of sending ``commands`` to ``topic``, open while they are sent."""
        if self._tracer is None or not commands:
            yield _UNTRACED
            return
        if len(commands) == 1:
            span = self._start(f"send {topic}", trace.SpanKind.PRODUCER, topic, commands[0])
            headers = [_headers(span)]
        else:
            created = [self._create(topic, command) for command in commands]
            headers = [_headers(span) for span in created]
            span = self._tracer.start_span(
                f"send {topic}",
                kind=trace.SpanKind.CLIENT,
                links=[trace.Link(s.get_span_context()) for s in created],
                attributes={
                    **_messaging("send", topic),
                    "messaging.batch.message_count": len(commands),
                },
            )
        with trace.use_span(span, end_on_exit=True):
            try:
                yield Sent(span, headers)
            except BaseException as error:
                span.set_attribute("error.type", type(error).__qualname__)
                raise

    def shutdown(self) -> None:
        """Export the spans left and stop the exporters."""
        if self.provider is not None:
            self.provider.shutdown()

    def _create(self, topic: str, command: Traced) -> trace.Span:
        span = self._start(f"create {topic}", trace.SpanKind.PRODUCER, topic, command)
        span.end()
        return span

    def _start(self, name: str, kind: trace.SpanKind, topic: str, command: Traced) -> trace.Span:
        assert self._tracer is not None
        operation = name.partition(" ")[0]
        attributes: dict[str, Any] = _messaging(operation, topic)
        if command.command_id is not None:
            attributes["messaging.message.id"] = command.command_id
        parent = _PROPAGATOR.extract(dict(command.origin)) if command.origin else None
        return self._tracer.start_span(name, context=parent, kind=kind, attributes=attributes)


def _messaging(operation: str, topic: str) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": topic,
    }


def _headers(span: trace.Span) -> Headers:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return [(name, value.encode("latin-1")) for name, value in carrier.items()]


#: Tracing off: what ``send_and_wait`` uses unless it is given spans.
NO_TRACING: Final = SendTracing(None)
