"""The shared server bootstrap, in process on an ephemeral port: trace propagation,
error mapping, health status through the lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mangaassist.common.errors import invalid_argument
from mangaassist.common.grpc_client import health_status, open_channel
from mangaassist.common.grpc_server import GrpcApp
from mangaassist.common.logging import JsonFormatter
from mangaassist.common.settings import ServiceSettings
from mangaassist.common.telemetry import outgoing_metadata
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc

pytestmark = pytest.mark.integration

SERVICE = "mangaassist.intent.v1.IntentService"


class EchoIntent(intent_pb2_grpc.IntentServiceServicer):
    """Unit-test servicer: fails on demand, otherwise echoes the text as the intent."""

    async def Classify(self, request: intent_pb2.ClassifyRequest, context: Any) -> intent_pb2.ClassifyResponse:
        if request.text == "bad":
            raise invalid_argument("bad text")
        if request.text == "boom":
            raise RuntimeError("secret internal detail")
        if request.text == "slow":
            await asyncio.sleep(5)
        return intent_pb2.ClassifyResponse(intent=request.text)


@pytest.fixture
async def app_and_spans() -> AsyncIterator[tuple[GrpcApp, InMemorySpanExporter, TracerProvider, asyncio.Task[None]]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    warm = asyncio.Event()
    served: list[str] = []

    async def warm_up() -> None:
        await warm.wait()

    app = GrpcApp(
        ServiceSettings(port=0, drain_grace_s=1.0),
        service_names=[SERVICE],
        tracer=provider.get_tracer("test"),
        span_names={f"/{SERVICE}/Classify": "intent-classification"},
        register=lambda s: intent_pb2_grpc.add_IntentServiceServicer_to_server(EchoIntent(), s),
        warm_up=warm_up,
        serving=lambda: served.append("serving"),
        drain_announce_s=0.2,
    )
    task = asyncio.create_task(app.run())
    app.warm = warm  # type: ignore[attr-defined]
    app.served = served  # type: ignore[attr-defined]
    yield app, exporter, provider, task
    app.request_stop()
    await task


async def test_health_follows_the_lifecycle_and_errors_map_to_status(app_and_spans) -> None:  # type: ignore[no-untyped-def]
    app, exporter, provider, task = app_and_spans
    channel = open_channel(f"127.0.0.1:{app.port}")
    await asyncio.sleep(0.1)
    assert await health_status(channel, SERVICE, 1.0) == "NOT_SERVING"  # still warming up
    assert app.served == []  # the serving hook waits for the warm-up
    app.warm.set()
    for _ in range(50):
        if await health_status(channel, SERVICE, 1.0) == "SERVING":
            break
        await asyncio.sleep(0.02)
    assert await health_status(channel, SERVICE, 1.0) == "SERVING"

    stub = intent_pb2_grpc.IntentServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.Classify(intent_pb2.ClassifyRequest(text="bad"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and bad.value.details() == "bad text"
    with pytest.raises(grpc.aio.AioRpcError) as boom:
        await stub.Classify(intent_pb2.ClassifyRequest(text="boom"))
    assert boom.value.code() == grpc.StatusCode.INTERNAL and "secret" not in (boom.value.details() or "")

    # The caller's trace continues on the server: same trace id, server span is its child.
    tracer = provider.get_tracer("client")
    with tracer.start_as_current_span("ecs-orchestrator") as parent:
        reply = await stub.Classify(intent_pb2.ClassifyRequest(text="greeting"), metadata=outgoing_metadata())
    assert reply.intent == "greeting"
    server_span = next(s for s in exporter.get_finished_spans() if s.name == "intent-classification" and s.status.is_ok)
    assert server_span.context.trace_id == parent.get_span_context().trace_id
    assert server_span.parent is not None and server_span.parent.span_id == parent.get_span_context().span_id
    assert app.served == ["serving"]  # once, after the status turned SERVING

    app.request_stop()
    await asyncio.sleep(0.05)
    assert await health_status(channel, SERVICE, 1.0) == "NOT_SERVING"  # draining
    await task
    await channel.close()


def test_json_logs_carry_trace_ids_and_no_traceback() -> None:
    provider = TracerProvider()
    formatter = JsonFormatter("svc")
    with provider.get_tracer("t").start_as_current_span("x") as span:
        try:
            raise ValueError("customer said something private")
        except ValueError:
            record = logging.LogRecord("l", logging.ERROR, __file__, 1, "failed %s", ("op",), None)
            record.exc_info = sys.exc_info()
            line = json.loads(formatter.format(record))
    assert line["msg"] == "failed op" and line["service"] == "svc"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["exc_type"] == "ValueError" and "private" not in json.dumps(line)


@pytest.mark.parametrize(
    ("segments", "fails"),
    [(frozenset(), True), (frozenset({"intent-classification"}), True), (frozenset({"vector-search"}), False)],
)
async def test_faults_hit_only_the_chosen_segments(segments: frozenset[str], fails: bool) -> None:
    settings = ServiceSettings(
        port=0, drain_grace_s=0.5, fault_error_rate=1.0, fault_error_code="UNAVAILABLE", fault_segments=segments
    )
    app = GrpcApp(
        settings,
        service_names=[SERVICE],
        tracer=TracerProvider().get_tracer("test"),
        span_names={f"/{SERVICE}/Classify": "intent-classification"},
        register=lambda s: intent_pb2_grpc.add_IntentServiceServicer_to_server(EchoIntent(), s),
        drain_announce_s=0.0,
    )
    task = asyncio.create_task(app.run())
    channel = open_channel(f"127.0.0.1:{app.port}")
    try:
        stub = intent_pb2_grpc.IntentServiceStub(channel)
        if fails:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Classify(intent_pb2.ClassifyRequest(text="greeting"), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        else:
            assert (await stub.Classify(intent_pb2.ClassifyRequest(text="greeting"), timeout=5)).intent == "greeting"
    finally:
        await channel.close()
        app.request_stop()
        await task


async def serving_channel(app: Any, provider: TracerProvider) -> tuple[Any, grpc.aio.Channel]:
    """The caller's tracer and a traced channel to the warmed-up test server, once it serves."""
    app.warm.set()
    tracer = provider.get_tracer("orchestrator")
    channel = open_channel(f"127.0.0.1:{app.port}", tracer)
    for _ in range(50):
        if await health_status(channel, SERVICE, 1.0) == "SERVING":
            break
        await asyncio.sleep(0.02)
    return tracer, channel


async def test_client_and_server_spans_carry_kinds_rpc_attributes_and_the_parent_chain(app_and_spans) -> None:  # type: ignore[no-untyped-def]
    """caller segment (INTERNAL) › CLIENT span (package.Service/Method) › the callee's contract
    span (SERVER), with rpc.system/service/method on both ends, for X-Ray's service map."""
    app, exporter, provider, _ = app_and_spans
    tracer, channel = await serving_channel(app, provider)
    stub = intent_pb2_grpc.IntentServiceStub(channel)
    exporter.clear()
    with tracer.start_as_current_span("intent-classification-call") as segment:
        # The caller also sends its own context (as the pipeline does): the client span's replaces it.
        await stub.Classify(intent_pb2.ClassifyRequest(text="greeting"), metadata=outgoing_metadata())
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Classify(intent_pb2.ClassifyRequest(text="bad"))
    for _ in range(500):  # the client span ends when the call is awaited
        if len([s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]) == 2:
            break
        await asyncio.sleep(0.01)
    finished = exporter.get_finished_spans()
    clients = [s for s in finished if s.kind == SpanKind.CLIENT]
    servers = [s for s in finished if s.kind == SpanKind.SERVER]
    assert len(clients) == 2 and len(servers) == 2  # no span for the health checks
    for client, server in zip(clients, sorted(servers, key=lambda s: s.start_time or 0), strict=True):
        assert client.name == f"{SERVICE}/Classify"
        assert client.parent is not None and client.parent.span_id == segment.get_span_context().span_id
        assert server.name == "intent-classification"  # the contract's name stays
        assert server.parent is not None and server.parent.span_id == client.context.span_id
        for span in (client, server):
            attributes = dict(span.attributes or {})
            assert (attributes["rpc.system"], attributes["rpc.service"], attributes["rpc.method"]) == (
                "grpc",
                SERVICE,
                "Classify",
            )
        assert dict(client.attributes or {})["server.address"] == "127.0.0.1"
    codes = [dict(s.attributes or {})["rpc.grpc.status_code"] for s in clients]
    assert codes == [0, grpc.StatusCode.INVALID_ARGUMENT.value[0]]
    assert [c.status.status_code.name for c in clients] == ["UNSET", "ERROR"]
    await channel.close()


async def test_a_cancelled_call_ends_its_client_span_as_cancelled(app_and_spans) -> None:  # type: ignore[no-untyped-def]
    """A call cancelled by its caller (a cache hit made it moot) ends its CLIENT span at once,
    with the CANCELLED status code; the callee's work is cancelled with it."""
    app, exporter, provider, _ = app_and_spans
    _, channel = await serving_channel(app, provider)
    stub = intent_pb2_grpc.IntentServiceStub(channel)
    exporter.clear()
    task = asyncio.ensure_future(stub.Classify(intent_pb2.ClassifyRequest(text="slow"), timeout=10))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    clients = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert len(clients) == 1
    assert dict(clients[0].attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
    assert clients[0].status.status_code.name == "ERROR"
    await channel.close()
