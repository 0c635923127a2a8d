"""Trace context crosses gRPC metadata (W3C and X-Ray headers), with valid lower-case keys."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from mangaassist.common.telemetry import context_from_metadata, outgoing_metadata, setup_tracing


def test_metadata_keys_are_lower_case_and_round_trip() -> None:
    setup_tracing("unit", "0")  # installs W3C + baggage + X-Ray propagation
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("parent") as parent:
        metadata = outgoing_metadata()
    keys = [k for k, _ in metadata]
    assert all(k == k.lower() for k in keys) and "traceparent" in keys and "x-amzn-trace-id" in keys
    remote = trace.get_current_span(context_from_metadata(metadata)).get_span_context()
    assert remote.trace_id == parent.get_span_context().trace_id

    xray_only = [(k, v) for k, v in metadata if k == "x-amzn-trace-id"]
    remote = trace.get_current_span(context_from_metadata(xray_only)).get_span_context()
    assert remote.trace_id == parent.get_span_context().trace_id
