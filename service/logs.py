"""Structured JSON logs on stderr, one object per line.

Log lines carry ids, types, codes and counts only: referral documents (customer contacts,
team members, e-mails, phone numbers) are never logged. Every line goes through
``redact``, so a credential in a URL (a database DSN quoted by an error) is masked
wherever it sits. ``time`` is UTC with milliseconds and a ``Z``; a line written inside a
traced span carries its ``trace_id`` and ``span_id`` (the OpenTelemetry log data model's
names), so logs and traces join. The ids are taken when the record is made
(``stamp_traces``), so a handler that formats later keeps them.
"""

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from opentelemetry import trace

from service.redaction import redact

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def utc_timestamp(created: float) -> str:
    """``2026-12-01T07:20:36.123Z`` for a ``time.time()`` value."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def _stamp(record: logging.LogRecord) -> logging.LogRecord:
    """The record with the current span's ids, when there is one and it has none yet."""
    span = trace.get_current_span().get_span_context()
    if span.is_valid and not hasattr(record, "trace_id"):
        record.trace_id = trace.format_trace_id(span.trace_id)
        record.span_id = trace.format_span_id(span.span_id)
    return record


def stamp_traces() -> None:
    """Make every log record carry the ids of the span current where it is made."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "stamps_traces", False):
        return

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _stamp(factory(*args, **kwargs))

    stamped: Callable[..., logging.LogRecord] = make
    stamped.stamps_traces = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(stamped)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utc_timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        _stamp(record)  # a record made before stamp_traces, inside a span
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(entry, default=str).decode())


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    stamp_traces()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("transitions").setLevel(logging.WARNING)
