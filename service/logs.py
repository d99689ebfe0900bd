"""Structured JSON logs on stderr, one object per line.

Log lines carry ids, types, codes and counts only: referral documents (customer contacts,
team members, e-mails, phone numbers) are never logged. Every line goes through
``redact``, so a credential in a URL (a database DSN quoted by an error) is masked
wherever it sits. ``time`` is UTC with milliseconds and a ``Z``; a line written inside a
traced span carries its ``trace_id`` and ``span_id`` (the OpenTelemetry log data model's
names), so logs and traces join. The ids are taken when the record is made
(``stamp_traces``), so a handler that formats later keeps them. The Kafka client's
records are rate-limited per kind (``RepeatLimiter``): an outage writes a line every
``REPEAT_INTERVAL_SECONDS``, not dozens a second.
"""

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson
from opentelemetry import trace

from service.redaction import redact

#: Of a kind of Kafka client record, at most one line per this many seconds (the first
#: passes at once; the next one to pass counts those held back).
REPEAT_INTERVAL_SECONDS: Final = 10.0
_KINDS_KEPT: Final = 1000
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


class RepeatLimiter(logging.Filter):
    """Lets the first record of a kind (logger, level, message template) through, then at
    most one per ``interval`` seconds, which says how many of its kind it stands for
    (``suppressed``, and "N similar messages suppressed" in its message). Records of loggers
    outside ``prefixes`` all pass. Kafka's client logs every failed connection attempt:
    during a broker outage, dozens of lines a second of one kind."""

    def __init__(
        self,
        prefixes: tuple[str, ...] = ("aiokafka",),
        interval: float = REPEAT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.interval = interval
        self.clock = clock
        self._kinds: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        started, suppressed = self._kinds.get(kind, (now - self.interval, 0))
        if now - started < self.interval:
            self._kinds[kind] = (started, suppressed + 1)
            return False
        if len(self._kinds) >= _KINDS_KEPT:  # bounded, whatever the client logs
            self._kinds.clear()
        self._kinds[kind] = (now, 0)
        if suppressed:
            record.suppressed = suppressed
            record.msg = f"{record.msg} ({suppressed} similar messages suppressed)"
        return True


class Context(logging.Filter):
    """Fields every line of this process carries (a worker's index), unless a line sets its
    own."""

    def __init__(self, fields: Mapping[str, object]) -> None:
        super().__init__()
        self.fields = dict(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in self.fields.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def configure(level: str, context: Mapping[str, object] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatLimiter())
    if context:
        handler.addFilter(Context(context))
    stamp_traces()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("transitions").setLevel(logging.WARNING)
