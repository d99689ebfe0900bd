"""A log line's time is UTC with milliseconds and a Z; inside a span it names the trace."""

import logging
import re

import orjson
from opentelemetry.sdk.trace import TracerProvider

from service.logs import Context, JsonFormatter, RepeatLimiter, utc_timestamp


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


def test_a_workers_lines_carry_its_index_unless_a_line_names_its_own() -> None:
    context = Context({"worker": 1})
    plain = logging.LogRecord("service.test", logging.INFO, __file__, 1, "hi", None, None)
    own = logging.LogRecord("service.test", logging.INFO, __file__, 1, "hi", None, None)
    own.worker = 0
    assert context.filter(plain)
    assert context.filter(own)
    assert orjson.loads(JsonFormatter().format(plain))["worker"] == 1
    assert orjson.loads(JsonFormatter().format(own))["worker"] == 0


def _client_record(message: str, *args: object, name: str = "aiokafka.conn") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, args, None)


def test_the_kafka_client_repeating_itself_writes_one_line_per_interval_saying_how_many() -> None:
    now = [100.0]
    limiter = RepeatLimiter(interval=10.0, clock=lambda: now[0])
    unreachable = "Unable connect to node with id %s: %s"
    passed = []
    for attempt in range(74 * 25):  # 74 a second for 25 seconds
        now[0] = 100.0 + attempt / 74
        record = _client_record(unreachable, attempt % 3, "refused")
        if limiter.filter(record):
            passed.append(record)
    assert len(passed) == 3  # at 0 s, 10 s and 20 s
    first, second, third = passed
    assert not hasattr(first, "suppressed")
    assert second.suppressed == 739  # type: ignore[attr-defined]
    assert "(739 similar messages suppressed)" in second.getMessage()
    assert second.getMessage().startswith("Unable connect to node with id ")
    assert third.suppressed == 739  # type: ignore[attr-defined]


def test_other_kinds_and_the_service_own_records_are_not_held_back() -> None:
    limiter = RepeatLimiter(interval=10.0, clock=lambda: 5.0)
    assert limiter.filter(_client_record("Unable connect to node with id %s: %s", 1, "x"))
    assert limiter.filter(_client_record("Heartbeat failed for group %s", "g"))
    assert not limiter.filter(_client_record("Heartbeat failed for group %s", "h"))
    assert limiter.filter(_client_record("Heartbeat failed for group %s", "g", name="aiokafka.x"))
    for _ in range(100):
        assert limiter.filter(_client_record("batch stored", name="service.consume.loop"))
