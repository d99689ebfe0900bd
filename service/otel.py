"""The OpenTelemetry SDK as the standard ``OTEL_*`` variables configure it: a tracer
provider with the exporters they name, or none when they configure no exporter (tracing
off). Each traced part of a process (the consume loop, the read API, ``referrals send``)
builds its own from the same variables.
"""

import os
from collections.abc import Mapping
from typing import Final

from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

from service.errors import ConfigurationError
from service.version import DISTRIBUTION, package_version

_HTTP_PROTOBUF: Final = "http/protobuf"


def tracer_provider(
    environ: Mapping[str, str] = os.environ, default_name: str = DISTRIBUTION
) -> TracerProvider | None:
    """The provider the variables configure, its ``service.name`` ``OTEL_SERVICE_NAME`` or
    ``default_name``; None when they configure no exporter."""
    exporters = configured_exporters(environ)
    if not exporters:
        return None
    resource = Resource.create(
        {
            SERVICE_NAME: environ.get("OTEL_SERVICE_NAME") or default_name,
            SERVICE_VERSION: package_version(),
        }
    )
    provider = TracerProvider(resource=resource)
    for name in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, environ)))
    return provider


def configured_exporters(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the ``OTEL_*`` variables ask for; none unless they name one or
    an OTLP endpoint (``OTEL_SDK_DISABLED=true`` and ``OTEL_TRACES_EXPORTER=none`` win)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    named = [name for name in named if name]
    if "none" in named:
        return []
    if named:
        return named
    endpoints = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    return ["otlp"] if any(environ.get(name) for name in endpoints) else []


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER '{name}' is not supported (use otlp, console or none)"
        )
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or _HTTP_PROTOBUF
    )
    if protocol.strip().lower() != _HTTP_PROTOBUF:
        raise ConfigurationError(
            f"OTLP protocol '{protocol}' is not supported: the service exports traces over"
            f" {_HTTP_PROTOBUF} (set OTEL_EXPORTER_OTLP_PROTOCOL={_HTTP_PROTOBUF})"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout and TLS from OTEL_EXPORTER_OTLP_*
