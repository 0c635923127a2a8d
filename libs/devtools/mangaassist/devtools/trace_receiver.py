"""A small local trace receiver: ``python -m mangaassist.devtools.trace_receiver``.

No OpenTelemetry/ADOT collector binary runs on these machines, so ``make up`` starts
this instead. It accepts OTLP/gRPC ``TraceService/Export`` on 127.0.0.1:4317 (what every
service's OTLP exporter sends), keeps the most recent spans in a bounded buffer, and
serves them as JSON at ``GET http://127.0.0.1:4319/spans`` for the bottleneck detector
and the profile report. It is a development tool, not part of any service.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

MAX_SPANS = 200_000


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(v, kind)
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return None


class SpanBuffer:
    """The most recent spans, flattened to dicts; thread-safe (gRPC loop writes, HTTP reads)."""

    def __init__(self, max_spans: int = MAX_SPANS) -> None:
        self._spans: deque[dict[str, Any]] = deque(maxlen=max_spans)
        self._lock = threading.Lock()
        self.received = 0

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        batch = []
        for rs in request.resource_spans:
            service = next(
                (_value(a.value) for a in rs.resource.attributes if a.key == "service.name"), "unknown"
            )
            for ss in rs.scope_spans:
                for span in ss.spans:
                    batch.append(
                        {
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "name": span.name,
                            "service": service,
                            "start_ns": span.start_time_unix_nano,
                            "end_ns": span.end_time_unix_nano,
                            "status": span.status.code,
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                        }
                    )
        with self._lock:
            self._spans.extend(batch)
            self.received += len(batch)

    def since(self, start_ns: int) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self._spans if s["start_ns"] >= start_ns]


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, buffer: SpanBuffer) -> None:
        self._buffer = buffer

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._buffer.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


def _http_handler(buffer: SpanBuffer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/spans":
                since = int(parse_qs(url.query).get("since_ns", ["0"])[0] or 0)
                body = json.dumps({"spans": buffer.since(since), "received": buffer.received}).encode()
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


async def serve(grpc_port: int, http_port: int) -> None:
    buffer = SpanBuffer()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(buffer), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    await server.start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), _http_handler(buffer))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"trace receiver: OTLP/gRPC 127.0.0.1:{grpc_port}, spans at http://127.0.0.1:{http_port}/spans", flush=True)
    await stop.wait()
    http.shutdown()
    await server.stop(1)


def main() -> None:
    grpc_port = int(os.environ.get("MANGAASSIST_TRACES_PORT", "4317"))
    http_port = int(os.environ.get("MANGAASSIST_TRACES_HTTP_PORT", str(grpc_port + 2)))
    asyncio.run(serve(grpc_port, http_port))


if __name__ == "__main__":
    main()
