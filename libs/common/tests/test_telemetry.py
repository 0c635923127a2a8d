"""Trace context crosses gRPC metadata (W3C and X-Ray headers), with valid lower-case keys;
the standard OTEL_* variables (service name, OTLP protocol) are honoured."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import TracerProvider

from mangaassist.common.metrics import metric_exporter
from mangaassist.common.telemetry import (
    context_from_metadata,
    outgoing_metadata,
    resource_for,
    setup_tracing,
    span_exporter,
)


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


def test_otel_service_name_wins_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    assert resource_for("intent", "1").attributes["service.name"] == "intent"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "intent-canary")
    assert resource_for("intent", "1").attributes["service.name"] == "intent-canary"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=intent-blue,service.namespace=m")
    assert resource_for("intent", "1").attributes["service.name"] == "intent-blue"


@pytest.mark.parametrize(
    ("env", "traces", "metrics"),
    [
        ({}, GrpcSpanExporter, GrpcMetricExporter),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, HttpSpanExporter, HttpMetricExporter),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"},
            HttpSpanExporter,
            GrpcMetricExporter,
        ),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, HttpSpanExporter, GrpcMetricExporter),
    ],
)
def test_the_otlp_protocol_picks_the_exporter(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    traces: type,
    metrics: type,
) -> None:
    for key in (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    assert isinstance(span_exporter(), traces)
    assert isinstance(metric_exporter(), metrics)


def test_an_unsupported_otlp_protocol_fails_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="http/json"):
        span_exporter()
