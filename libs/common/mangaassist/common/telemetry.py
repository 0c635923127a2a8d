"""OpenTelemetry setup, OTLP export, and trace-context propagation over gRPC metadata.

Span attributes never carry customer text.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator


class _LowerCaseGetter(DefaultGetter):
    """Read carrier keys case-insensitively: gRPC lower-cases every metadata key."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:  # type: ignore[override]
        value = carrier.get(key.lower())
        return [value] if value is not None else None


_LOWER_CASE_GETTER = _LowerCaseGetter()


def export_configured() -> bool:
    """Whether the standard ``OTEL_*`` variables ask for OTLP trace export."""
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


OTLP_PROTOCOLS = ("grpc", "http/protobuf")


def otlp_protocol(signal: str) -> str:
    """The OTLP transport for ``signal`` (``traces`` / ``metrics``) from the standard variables:
    ``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL``, else ``OTEL_EXPORTER_OTLP_PROTOCOL``, else ``grpc``.

    ``http/json`` (or anything else) fails the start: an exporter that silently sends
    nothing is worse than one that refuses to start.
    """
    value = (
        (
            os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "grpc"
        )
        .strip()
        .lower()
    )
    if value not in OTLP_PROTOCOLS:
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={value!r} is not supported: use one of {OTLP_PROTOCOLS}")
    return value


def span_exporter() -> SpanExporter:
    """The OTLP span exporter the standard variables ask for (endpoint, headers, TLS and
    timeout are read by the exporter itself)."""
    if otlp_protocol("traces") == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

        return HttpSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def resource_for(service: str, version: str) -> Resource:
    """Service name/version (+ the ECS task's attributes when running in ECS).

    ``OTEL_SERVICE_NAME`` (and ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) win over
    ``service``, which is only the default.
    """
    attributes = {"service.version": version}
    if not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes["service.name"] = service
    resource = Resource.create(attributes)
    if os.environ.get("ECS_CONTAINER_METADATA_URI_V4"):
        from opentelemetry.sdk.extension.aws.resource.ecs import AwsEcsResourceDetector

        resource = resource.merge(AwsEcsResourceDetector().detect())
    return resource


def setup_tracing(service: str, version: str) -> tuple[TracerProvider, Tracer]:
    """Build this process's tracer provider and a tracer for the service.

    Export is configured only by the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
    ``OTEL_EXPORTER_OTLP_PROTOCOL`` — ``grpc`` or ``http/protobuf`` —,
    ``OTEL_EXPORTER_OTLP_INSECURE``, ``OTEL_TRACES_EXPORTER=none`` …): OTLP to the ADOT
    collector sidecar in AWS, to our local receiver under ``make up``. Spans leave in
    batches from a background thread, off the request path. Propagation is W3C trace
    context + baggage + the AWS X-Ray header unless ``OTEL_PROPAGATORS`` says otherwise.
    """
    provider = TracerProvider(resource=resource_for(service, version))
    if export_configured():
        provider.add_span_processor(BatchSpanProcessor(span_exporter()))
    if "OTEL_PROPAGATORS" not in os.environ:
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator(), AwsXRayPropagator()])
        )
    return provider, provider.get_tracer(f"mangaassist.{service}", version)


def outgoing_metadata(extra: Iterable[tuple[str, str]] = ()) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying the current trace context (``traceparent``) plus ``extra``."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    # gRPC metadata keys must be lower case (the X-Ray propagator writes X-Amzn-Trace-Id).
    return tuple((k.lower(), v) for k, v in carrier.items()) + tuple(extra)


def context_from_metadata(
    metadata: Iterable[tuple[str, str | bytes]] | None,
) -> otel_context.Context:
    """The remote parent context carried in incoming gRPC metadata (empty if none)."""
    carrier: Mapping[str, str] = {k: v for k, v in (metadata or ()) if isinstance(v, str)}
    return propagate.extract(carrier, getter=_LOWER_CASE_GETTER)


def rpc_attributes(full_method: str) -> dict[str, str]:
    """OTel RPC semantic-convention attributes of ``/package.Service/Method``."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}


def grpc_status_code(name: str) -> int:
    """``rpc.grpc.status_code`` (the numeric code) of a status name such as ``UNAVAILABLE``."""
    code = grpc.StatusCode.__members__.get(name, grpc.StatusCode.UNKNOWN)
    number: int = code.value[0]
    return number


_AWS_SPAN = "mangaassist.otel_span"


def trace_aws_client(client: Any, tracer: Tracer) -> None:
    """A CLIENT span per call of an aiobotocore client (``DynamoDB.GetItem`` …), through the
    client's own event hooks, with ``rpc.system=aws-api``, ``rpc.service``, ``rpc.method``,
    the table name for DynamoDB and the HTTP status: X-Ray draws the AWS service as a node.

    opentelemetry-instrumentation-botocore patches botocore's synchronous ``_make_api_call``,
    which aiobotocore's clients override with a coroutine, so it sees none of their calls.
    """
    service = client.meta.service_model.service_id

    def table(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if isinstance(params.get("TableName"), str):
            context["mangaassist.table"] = params["TableName"]

    def start(model: Any, context: dict[str, Any], **_: Any) -> None:
        attributes: dict[str, Any] = {"rpc.system": "aws-api", "rpc.service": str(service), "rpc.method": model.name}
        if "mangaassist.table" in context:
            attributes["aws.dynamodb.table_names"] = [context["mangaassist.table"]]
        context[_AWS_SPAN] = tracer.start_span(f"{service}.{model.name}", kind=SpanKind.CLIENT, attributes=attributes)

    def finish(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        span = context.pop(_AWS_SPAN, None)
        if span is None:
            return
        status = int(getattr(http_response, "status_code", 0))
        span.set_attribute("http.response.status_code", status)
        request_id = parsed.get("ResponseMetadata", {}).get("RequestId")
        if request_id:
            span.set_attribute("aws.request_id", request_id)
        if status >= 400:
            span.set_status(Status(StatusCode.ERROR, str(parsed.get("Error", {}).get("Code", status))))
        span.end()

    def failed(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        span = context.pop(_AWS_SPAN, None)
        if span is not None:
            span.set_attribute("error.type", type(exception).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
            span.end()

    prefix = service.hyphenize()
    client.meta.events.register(f"before-parameter-build.{prefix}", table)
    client.meta.events.register(f"before-call.{prefix}", start)
    client.meta.events.register(f"after-call.{prefix}", finish)
    client.meta.events.register(f"after-call-error.{prefix}", failed)
