"""A log line's time is UTC with milliseconds and a Z; inside a span it names the trace."""

import logging
import re

import orjson
from opentelemetry.sdk.trace import TracerProvider

from service.logs import JsonFormatter, utc_timestamp


def _line(message: str = "hello") -> dict[str, object]:
    record = logging.LogRecord("service.test", logging.INFO, __file__, 1, message, None, None)
    return dict(orjson.loads(JsonFormatter().format(record)))


def test_time_is_utc_with_milliseconds_and_z() -> None:
    assert utc_timestamp(0.25) == "1970-01-01T00:00:00.250Z"
    assert utc_timestamp(1_764_573_636.999_9) == "2025-12-01T07:20:36.999Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(_line()["time"]))


def test_a_line_outside_any_span_names_no_trace() -> None:
    assert "trace_id" not in _line()


def test_a_line_inside_a_span_carries_its_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("command") as span:
        line = _line()
    context = span.get_span_context()
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
