"""A small local trace and metric receiver: ``python -m mangaassist.devtools.trace_receiver``.

No OpenTelemetry/ADOT collector binary runs on these machines, so ``make up`` starts
this instead. It accepts OTLP/gRPC ``TraceService/Export`` and ``MetricsService/Export``
on 127.0.0.1:4317 (what every service's OTLP exporters send), keeps the most recent spans
and metric points in bounded buffers, and serves them as JSON at
``GET http://127.0.0.1:4319/spans`` and ``GET http://127.0.0.1:4319/metrics`` (both take
``?since_ns=``; ``/metrics`` also ``&name=``) for the bottleneck detector, the profile
report and the tests. It is a development tool, not part of any service.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

MAX_SPANS = 200_000
MAX_POINTS = 50_000
Export = TypeVar("Export")
Reply = TypeVar("Reply")


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(v, kind)
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return None


class _Recent:
    """The most recent records, flattened to dicts; thread-safe (gRPC loop writes, HTTP reads)."""

    def __init__(self, limit: int) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self.received = 0

    def _extend(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self._records.extend(batch)
            self.received += len(batch)

    def _select(self, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._records if keep(r)]


def _walk(resources: Iterable[Any], scopes: str, items: str) -> Iterator[tuple[Any, Any]]:
    """(service name, item) for every item (span, metric) of every scope of every resource of
    an OTLP export: ``resources`` are its ``resource_spans`` or ``resource_metrics``."""
    for resource in resources:
        service = _service(list(resource.resource.attributes))
        for scope in getattr(resource, scopes):
            for item in getattr(scope, items):
                yield service, item


def _span(service: Any, span: trace_pb2.Span) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex(),
        "name": span.name,
        # SPAN_KIND_SERVER -> "SERVER" (INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER)
        "kind": trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
        "service": service,
        "start_ns": span.start_time_unix_nano,
        "end_ns": span.end_time_unix_nano,
        "status": span.status.code,
        "attributes": {a.key: _value(a.value) for a in span.attributes},
    }


class SpanBuffer(_Recent):
    """The most recent spans."""

    def __init__(self, max_spans: int = MAX_SPANS) -> None:
        super().__init__(max_spans)

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        self._extend([_span(service, span) for service, span in _walk(request.resource_spans, "scope_spans", "spans")])

    def since(self, start_ns: int) -> list[dict[str, Any]]:
        return self._select(lambda s: s["start_ns"] >= start_ns)


def _attributes(attributes: Any) -> dict[str, Any]:
    return {a.key: _value(a.value) for a in attributes}


def _service(attributes: list[KeyValue]) -> Any:
    return next((_value(a.value) for a in attributes if a.key == "service.name"), "unknown")


_TEMPORALITY = {
    metrics_pb2.AGGREGATION_TEMPORALITY_DELTA: "delta",
    metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}


def _point(kind: str, point: Any, **fields: Any) -> dict[str, Any]:
    """A data point as a dict: what every kind carries (type, attributes, times), then ``fields``."""
    return {
        "type": kind,
        "attributes": _attributes(point.attributes),
        "start_ns": point.start_time_unix_nano,
        "time_ns": point.time_unix_nano,
        **fields,
    }


def _buckets(point: Any) -> dict[str, Any]:
    """A histogram point's own fields: explicit bounds, or an exponential histogram's scale."""
    if isinstance(point, metrics_pb2.HistogramDataPoint):
        return {
            "min": point.min if point.HasField("min") else None,
            "max": point.max if point.HasField("max") else None,
            "bounds": list(point.explicit_bounds),
            "bucket_counts": list(point.bucket_counts),
        }
    return {
        "scale": point.scale,
        "zero_count": point.zero_count,
        "positive_offset": point.positive.offset,
        "positive_bucket_counts": list(point.positive.bucket_counts),
    }


def _points(metric: metrics_pb2.Metric) -> list[dict[str, Any]]:
    """One dict per data point of ``metric`` (histogram, exponential histogram, sum or gauge)."""
    kind = metric.WhichOneof("data")
    if kind is None:
        return []
    data = getattr(metric, kind)
    if kind in ("histogram", "exponential_histogram"):
        temporality = _TEMPORALITY.get(data.aggregation_temporality)
        return [
            _point(kind, p, temporality=temporality, count=p.count, sum=p.sum, **_buckets(p)) for p in data.data_points
        ]
    if kind == "sum":
        temporality = _TEMPORALITY.get(data.aggregation_temporality)
        return [
            _point(kind, p, value=_number(p), monotonic=data.is_monotonic, temporality=temporality)
            for p in data.data_points
        ]
    if kind == "gauge":
        return [_point(kind, p, value=_number(p)) for p in data.data_points]
    return []


def _number(point: metrics_pb2.NumberDataPoint) -> float | int:
    return point.as_double if point.WhichOneof("value") == "as_double" else point.as_int


class MetricBuffer(_Recent):
    """The most recent metric data points."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        super().__init__(max_points)

    def add(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        metrics = _walk(request.resource_metrics, "scope_metrics", "metrics")
        self._extend(
            [
                {"name": metric.name, "unit": metric.unit, "service": service, **point}
                for service, metric in metrics
                for point in _points(metric)
            ]
        )

    def since(self, start_ns: int, name: str | None = None) -> list[dict[str, Any]]:
        return self._select(lambda p: p["time_ns"] >= start_ns and (name is None or p["name"] == name))


class _Collector(Generic[Export, Reply]):
    """An OTLP collector service's one RPC, ``Export``: what is exported goes to ``add``, the
    answer is the empty ``reply`` (traces and metrics alike)."""

    def __init__(self, add: Callable[[Export], None], reply: Callable[[], Reply]) -> None:
        self._add = add
        self._reply = reply

    async def Export(self, request: Export, context: Any) -> Reply:
        self._add(request)
        return self._reply()


class TraceService(
    _Collector[trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse]
):
    def __init__(self, buffer: SpanBuffer) -> None:
        super().__init__(buffer.add, trace_service_pb2.ExportTraceServiceResponse)


class MetricsService(
    _Collector[metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse]
):
    def __init__(self, buffer: MetricBuffer) -> None:
        super().__init__(buffer.add, metrics_service_pb2.ExportMetricsServiceResponse)


def _http_handler(buffer: SpanBuffer, metrics: MetricBuffer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            try:
                since = int(query.get("since_ns", ["0"])[0] or 0)
            except ValueError:
                since = -1
            if since < 0:
                body = b'{"error": "since_ns must be a non-negative integer"}'
                self.send_response(400)
            elif url.path == "/spans":
                body = json.dumps({"spans": buffer.since(since), "received": buffer.received}).encode()
                self.send_response(200)
            elif url.path == "/metrics":
                name = query.get("name", [None])[0]
                body = json.dumps({"points": metrics.since(since, name), "received": metrics.received}).encode()
                self.send_response(200)
            elif url.path == "/healthz":
                body = b'{"status": "ok"}'
                self.send_response(200)
            else:
                body = b'{"error": "not found"}'
                self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


async def serve(grpc_port: int, http_port: int, host: str = "127.0.0.1") -> None:
    buffer, metric_buffer = SpanBuffer(), MetricBuffer()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(buffer), server)  # type: ignore[no-untyped-call]
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(  # type: ignore[no-untyped-call]
        MetricsService(metric_buffer), server
    )
    server.add_insecure_port(f"{host}:{grpc_port}")
    await server.start()
    http = ThreadingHTTPServer((host, http_port), _http_handler(buffer, metric_buffer))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"trace receiver: OTLP/gRPC {host}:{grpc_port}, spans and metrics at "
        f"http://{host}:{http_port}/spans and /metrics",
        flush=True,
    )
    await stop.wait()
    http.shutdown()
    await server.stop(1)


def main() -> None:
    grpc_port = int(os.environ.get("MANGAASSIST_TRACES_PORT", "4317"))
    http_port = int(os.environ.get("MANGAASSIST_TRACES_HTTP_PORT", str(grpc_port + 2)))
    # Loopback unless told otherwise (MANGAASSIST_TRACES_HOST=0.0.0.0 in a container).
    asyncio.run(serve(grpc_port, http_port, os.environ.get("MANGAASSIST_TRACES_HOST", "127.0.0.1")))


if __name__ == "__main__":
    main()
