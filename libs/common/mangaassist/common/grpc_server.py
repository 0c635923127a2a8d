"""gRPC server bootstrap shared by the intent, retrieval and inference services.

``GrpcApp`` owns one ``grpc.aio`` server with the standard health service (a real
status: NOT_SERVING while starting or draining) and server reflection, and runs the
lifecycle every service needs: bind → warm up → SERVING → wait for SIGTERM/SIGINT →
NOT_SERVING → drain in-flight RPCs → close dependencies.

``ServingInterceptor`` is the one place where RPCs get their server span (continuing the
caller's trace from the metadata; kind SERVER with ``rpc.system``/``rpc.service``/
``rpc.method``, so X-Ray's service map draws each service as its own node) and where
exceptions become gRPC status codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from mangaassist.common.errors import ServiceError
from mangaassist.common.metrics import mesh_metrics
from mangaassist.common.settings import ServiceSettings
from mangaassist.common.telemetry import context_from_metadata, grpc_status_code, rpc_attributes

logger = logging.getLogger(__name__)

SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]


def _abort_outcome(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The status a servicer aborted with (its name; ``UNKNOWN`` if the context has none)."""
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"


class ServingInterceptor(grpc.aio.ServerInterceptor):
    """Server span per RPC (named by ``span_names``), exception → status mapping, and the
    RPC's latency and outcome as metrics (``mangaassist.segment.duration`` /
    ``mangaassist.rpc.requests``)."""

    def __init__(self, tracer: Tracer, span_names: Mapping[str, str], faults: ServiceSettings | None = None) -> None:
        self._tracer = tracer
        self._span_names = dict(span_names)
        self._faults = faults if faults is not None and faults.faults_enabled else None

    async def _inject_fault(self, span_name: str) -> None:
        """Delay and/or fail the RPC as the fault settings say (only when enabled)."""
        f = self._faults
        if f is None or (f.fault_segments and span_name not in f.fault_segments):
            return
        if f.fault_delay_ms:
            await asyncio.sleep(f.fault_delay_ms / 1000)
        if f.fault_error_rate and random.random() < f.fault_error_rate:
            raise ServiceError(grpc.StatusCode[f.fault_error_code], "injected fault")

    @contextlib.asynccontextmanager
    async def _served(
        self, span_name: str, method: str, parent: Context, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[None]:
        """One RPC, unary or streaming: its server span, injected faults, the exception →
        status mapping, and its latency and outcome as metrics."""
        started, outcome = time.perf_counter(), "OK"
        with self._tracer.start_as_current_span(
            span_name, context=parent, kind=SpanKind.SERVER, attributes=rpc_attributes(method)
        ) as span:
            try:
                await self._inject_fault(span_name)
                yield
            except ServiceError as exc:
                outcome = exc.code.name
                span.set_status(Status(StatusCode.ERROR, exc.code.name))
                await context.abort(exc.code, exc.message)
            except grpc.aio.AbortError:
                outcome = _abort_outcome(context)
                raise
            except asyncio.CancelledError:
                outcome = grpc.StatusCode.CANCELLED.name
                raise
            except Exception:
                outcome = grpc.StatusCode.INTERNAL.name
                span.set_status(Status(StatusCode.ERROR, "internal"))
                logger.exception("unhandled error in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                span.set_attribute("rpc.grpc.status_code", grpc_status_code(outcome))
                mesh_metrics().rpc(span_name, (time.perf_counter() - started) * 1000, outcome)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        span_name = self._span_names.get(method)
        if handler is None or span_name is None:
            return handler
        parent = context_from_metadata(handler_call_details.invocation_metadata)

        if handler.unary_unary is not None:
            inner_uu: Any = handler.unary_unary  # an async function under grpc.aio

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                async with self._served(span_name, method, parent, context):
                    return await inner_uu(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )

        if handler.unary_stream is not None:
            inner_us: Any = handler.unary_stream  # an async generator function under grpc.aio

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
                async with self._served(span_name, method, parent, context):
                    async for message in inner_us(request, context):
                        yield message

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


@dataclass(frozen=True)
class _Lifecycle:
    """The service's own steps in the app's life (see ``GrpcApp``); each may be absent."""

    warm_up: Callable[[], Awaitable[None]] | None
    serving: Callable[[], None] | None
    draining: Callable[[], None] | None
    close: Callable[[], Awaitable[None]] | None


class GrpcApp:
    """One service process: server, health, reflection and the start/drain lifecycle.

    ``service_names`` are the full proto names (``mangaassist.intent.v1.IntentService``)
    whose health status this app reports; ``warm_up`` runs after the port is bound and
    before the status turns SERVING; ``serving`` runs once it has (a service whose health
    then follows a dependency starts following it there, never before the warm-up ends);
    ``draining`` runs when the drain begins (to end long-lived streams, which would
    otherwise hold the drain for its whole grace); ``close`` runs after the server has drained.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        service_names: list[str],
        tracer: Tracer,
        span_names: Mapping[str, str],
        register: Callable[[grpc.aio.Server], None],
        warm_up: Callable[[], Awaitable[None]] | None = None,
        serving: Callable[[], None] | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
        draining: Callable[[], None] | None = None,
        drain_announce_s: float = 0.5,
    ) -> None:
        self._settings = settings
        self._service_names = service_names
        self._steps = _Lifecycle(warm_up, serving, draining, close)
        self._drain_announce_s = drain_announce_s
        self._stop = asyncio.Event()
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server(
            interceptors=[ServingInterceptor(tracer, span_names, settings)], options=SERVER_OPTIONS
        )
        if settings.faults_enabled:
            logger.warning(
                "fault injection is ON",
                extra={"delay_ms": settings.fault_delay_ms, "error_rate": settings.fault_error_rate},
            )
        register(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self.server,
        )
        self.port = self.server.add_insecure_port(f"{settings.host}:{settings.port}")
        if self.port == 0:
            raise RuntimeError(f"cannot bind {settings.host}:{settings.port}")

    async def _set_all(self, status: int) -> None:
        for name in ["", *self._service_names]:
            await self.health.set(name, status)

    def request_stop(self) -> None:
        """Begin the drain (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def _warm_up_unless_stopped(self, warm_up: Callable[[], Awaitable[None]]) -> None:
        """Run the warm-up; a stop request cancels it (a warm-up may wait for a dependency
        for as long as it stays unusable, and SIGTERM must still drain promptly)."""
        warming = asyncio.ensure_future(warm_up())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({warming, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not warming.done():
                warming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await warming
        if warming.cancelled():
            logger.info("warm-up cancelled by the stop request")
        else:
            warming.result()

    async def run(self) -> None:
        """Serve until asked to stop, then drain and close. Returns when fully stopped."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()
        logger.info("listening", extra={"address": f"{self._settings.host}:{self.port}"})
        try:
            if self._steps.warm_up is not None:
                await self._warm_up_unless_stopped(self._steps.warm_up)
            if not self._stop.is_set():
                await self._set_all(health_pb2.HealthCheckResponse.SERVING)
                logger.info("serving")
                if self._steps.serving is not None:
                    self._steps.serving()
            await self._stop.wait()
        finally:
            logger.info("draining", extra={"grace_s": self._settings.drain_grace_s})
            # NOT_SERVING first, and keep answering health checks briefly, so balancers
            # stop routing here before the listener goes away.
            await self.health.enter_graceful_shutdown()
            await asyncio.sleep(self._drain_announce_s)
            if self._steps.draining is not None:
                self._steps.draining()
            await self.server.stop(self._settings.drain_grace_s)
            if self._steps.close is not None:
                await self._steps.close()
            logger.info("stopped")
