"""OpenTelemetry setup and W3C trace-context propagation over gRPC metadata.

Only the SDK provider is built here; exporting spans (OTLP to the ADOT collector) is
configured by the standard ``OTEL_*`` variables once the observability work lands.
Span attributes never carry customer text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer


def setup_tracing(service: str, version: str) -> tuple[TracerProvider, Tracer]:
    """Build this process's tracer provider and a tracer for the service."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.version": version})
    )
    return provider, provider.get_tracer(f"mangaassist.{service}", version)


def outgoing_metadata(extra: Iterable[tuple[str, str]] = ()) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying the current trace context (``traceparent``) plus ``extra``."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items()) + tuple(extra)


def context_from_metadata(
    metadata: Iterable[tuple[str, str | bytes]] | None,
) -> otel_context.Context:
    """The remote parent context carried in incoming gRPC metadata (empty if none)."""
    carrier: Mapping[str, str] = {
        k: v for k, v in (metadata or ()) if isinstance(v, str)
    }
    return propagate.extract(carrier)
