"""The real intent + retrieval handlers behind gRPC *and* behind an HTTP/JSON twin, in one process.

Bench-only (``grpc_vs_rest`` starts it as a child process). Both transports call the
same servicer instances on the same event loop (uvloop), each with a server span per
call and the same error mapping, so only the transport differs:

- gRPC: ``grpc.aio`` server with the production ``ServingInterceptor`` and options;
- HTTP/JSON: aiohttp (HTTP/1.1 keep-alive), ``POST /v1/<service>/<Method>`` with the
  request message as JSON (proto field names), answered with the reply as JSON (orjson),
  mapped to and from the messages by ``to_plain`` / ``from_plain``.

Prints one line ``READY <grpc_port> <http_port>`` on stdout when both listen, then serves
until SIGTERM/SIGINT.

    python -m bench.peers.twin
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, TypeVar

import grpc
import numpy as np
import orjson
import uvloop
from aiohttp import web
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from opentelemetry import propagate
from opentelemetry.trace import Status, StatusCode, Tracer

from bench.peers.inproc import build_intent, build_retrieval
from mangaassist.common import spans
from mangaassist.common.errors import ServiceError
from mangaassist.common.grpc_server import SERVER_OPTIONS, ServingInterceptor
from mangaassist.common.telemetry import setup_tracing
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

INTENT = "mangaassist.intent.v1.IntentService"
RETRIEVAL = "mangaassist.retrieval.v1.RetrievalService"
# gRPC status -> HTTP status for the twin's error replies.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: HTTPStatus.BAD_REQUEST,
    grpc.StatusCode.NOT_FOUND: HTTPStatus.NOT_FOUND,
    grpc.StatusCode.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: HTTPStatus.TOO_MANY_REQUESTS,
    grpc.StatusCode.DEADLINE_EXCEEDED: HTTPStatus.GATEWAY_TIMEOUT,
}

Handler = Callable[[Any, Any], Awaitable[Message]]
M = TypeVar("M", bound=Message)


def to_plain(message: Message, arrays: bool = True) -> dict[str, Any]:
    """The message as plain JSON-ready data, the way a service written against JSON holds it.

    Repeated floats (the 384-d embedding) become a float32 numpy array when ``arrays``:
    orjson writes those natively, with the shortest float32 digits, as a numpy-backed REST
    service would. ``google.protobuf.json_format`` does the same mapping in pure Python,
    float by float, about ten times slower (the suite reports it separately).
    """
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            out[field.name] = [to_plain(v, arrays) for v in value] if field.is_repeated else to_plain(value, arrays)
        elif field.is_repeated:
            out[field.name] = (
                np.asarray(value, dtype=np.float32)
                if arrays and field.type == FieldDescriptor.TYPE_FLOAT
                else list(value)
            )
        else:
            out[field.name] = value
    return out


def from_plain(kind: type[M], data: Any) -> M:
    """The request message from decoded JSON (``ValueError`` / ``TypeError`` when it does not fit)."""
    if not isinstance(data, dict):
        raise TypeError("the body must be a JSON object")
    return kind(**data)


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)


def json_route(tracer: Tracer, span_name: str, method: Handler, request_type: type[Message]) -> Any:
    """An aiohttp handler: JSON body → request message → the servicer → reply as JSON."""

    def error(status: HTTPStatus, code: str, message: str) -> web.Response:
        return web.Response(
            status=status, body=orjson.dumps({"code": code, "message": message}), content_type="application/json"
        )

    async def handle(request: web.Request) -> web.Response:
        parent = propagate.extract(dict(request.headers))
        with tracer.start_as_current_span(span_name, context=parent, attributes={"http.route": request.path}) as span:
            try:
                message = from_plain(request_type, orjson.loads(await request.read()))
            except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
                return error(HTTPStatus.BAD_REQUEST, "INVALID_ARGUMENT", f"bad request body: {exc}")
            try:
                reply = await method(message, None)
            except ServiceError as exc:
                span.set_status(Status(StatusCode.ERROR, exc.code.name))
                return error(HTTP_STATUS.get(exc.code, HTTPStatus.INTERNAL_SERVER_ERROR), exc.code.name, exc.message)
            return web.Response(body=dumps(to_plain(reply)), content_type="application/json")

    return handle


async def main() -> None:
    _, tracer = setup_tracing("bench-twin", "bench")
    intent = build_intent()
    retrieval = await build_retrieval()

    server = grpc.aio.server(
        interceptors=[
            ServingInterceptor(
                tracer,
                {
                    f"/{INTENT}/Classify": spans.INTENT,
                    f"/{RETRIEVAL}/Search": spans.VECTOR_SEARCH,
                    f"/{RETRIEVAL}/Embed": spans.QUERY_EMBEDDING,
                },
            )
        ],
        options=SERVER_OPTIONS,
    )
    intent_pb2_grpc.add_IntentServiceServicer_to_server(intent, server)
    retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(retrieval, server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()

    app = web.Application()
    app.router.add_post(
        f"/v1/{INTENT}/Classify", json_route(tracer, spans.INTENT, intent.Classify, intent_pb2.ClassifyRequest)
    )
    app.router.add_post(
        f"/v1/{RETRIEVAL}/Search",
        json_route(tracer, spans.VECTOR_SEARCH, retrieval.Search, retrieval_pb2.SearchRequest),
    )
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=75.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = runner.addresses[0][1]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {grpc_port} {http_port}", flush=True)
    await stop.wait()
    await runner.cleanup()
    await server.stop(1.0)
    await retrieval.close()


if __name__ == "__main__":
    uvloop.run(main())
    sys.exit(0)
