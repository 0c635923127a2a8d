"""Channels to downstream services: created once at start, shared by every request.

One HTTP/2 connection per downstream multiplexes all concurrent calls; keepalive pings
keep it warm and detect dead peers; a short reconnect backoff picks a restarted
downstream up within a couple of seconds.

A target may name several replicas: a comma-separated list of ``ip:port`` addresses
(``make up REPLICAS=2``) or a ``dns:///name:port`` whose name resolves to several
addresses. The channel balances per call over every address that is up (gRPC's
``round_robin`` policy, as ECS Service Connect balances per request in AWS): a replica
that dies leaves the rotation when its connection drops, and comes back when it does.
For such a list, client-side health checking (``healthCheckConfig``: a ``Health/Watch``
stream per address, on the server's overall status) keeps a replica that is still warming up or
already draining out of the rotation: a restarted replica binds its port before its index
is loaded, and would otherwise be sent calls it can only refuse. A model call the dying
replica never answered is retried on another (see :func:`service_config`).

With a tracer, every call gets a CLIENT span (``package.Service/Method``, ``rpc.system``,
``rpc.service``, ``rpc.method``, ``server.address``/``server.port``, the status code) that
carries the trace to the callee: the server's SERVER span becomes its child, so the trace
reads caller segment › client span › the callee's contract span, and X-Ray draws an edge
per hop. Why our own and not opentelemetry-instrumentation-grpc's aio interceptors: the
caller already puts its trace context in the metadata (``outgoing_metadata``); these
interceptors replace those keys with the client span's context instead of appending a
second ``traceparent`` the server would have to choose between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from mangaassist.common.telemetry import rpc_attributes


def service_config(balanced: bool) -> str:
    """The channel's service config. ``balanced`` (the client itself spreads calls over several
    addresses): round_robin with client-side health checking. Otherwise one address — a host,
    or in AWS the Service Connect proxy that balances per request itself — with gRPC's default
    pick_first and no health checking: the proxy's one Watch stream would land on one task,
    and that task draining would mark the whole service unusable."""
    config: dict[str, Any] = {
        # A model call that fails UNAVAILABLE before any reply arrived (a replica that just died,
        # or refused it while going away) is tried once more, on the next address in the rotation.
        # gRPC never retries a call whose reply has begun (a stream that already sent tokens),
        # and the throttle stops retrying while most calls fail (a whole service down). Intent and
        # retrieval calls are idempotent and retried by the caller's own budget (one place each).
        "methodConfig": [
            {
                "name": [{"service": "mangaassist.inference.v1.InferenceService"}],
                "retryPolicy": {
                    "maxAttempts": 2,
                    "initialBackoff": "0.01s",
                    "maxBackoff": "0.1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
    }
    if balanced:
        config["loadBalancingConfig"] = [{"round_robin": {}}]
        config["healthCheckConfig"] = {"serviceName": ""}
    # One address keeps gRPC's pick_first: after the peer restarts, round_robin fails every call
    # fast (UNAVAILABLE) until its reconnect backoff ends, while pick_first reconnects on the
    # next call; the detector drill saw a restarted intent service refused for its whole window.
    return json.dumps(config)


CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]


def channel_target(target: str) -> str:
    """The gRPC target for ``host:port``, a URI (``dns:///…``, ``ipv4:…``) or a comma-separated
    list of IP addresses (``127.0.0.1:50052,127.0.0.1:50062`` → ``ipv4:…``). Other lists are a
    ``ValueError``: gRPC resolves only IP literals in a list (use a DNS name for hosts)."""
    target = target.strip()
    if "," not in target or ":/" in target or target.startswith(("ipv4:", "ipv6:")):
        return target
    addresses = [part.strip() for part in target.split(",")]
    try:
        for address in addresses:
            host, _, port = address.rpartition(":")
            ipaddress.IPv4Address(host)
            if not port.isdigit():
                raise ValueError(address)
    except ValueError:
        raise ValueError(
            f"a list of targets must be ip:port addresses (got {target!r}); for host names use dns:///name:port"
        ) from None
    return "ipv4:" + ",".join(addresses)


def open_channel(target: str, tracer: Tracer | None = None) -> grpc.aio.Channel:
    """An insecure (in-VPC / loopback) channel to ``host:port`` (or several replicas: see
    :func:`channel_target`) with our keepalive and per-call balancing policy; with
    ``tracer``, a CLIENT span per call."""
    resolved = channel_target(target)
    interceptors = client_tracing(tracer, resolved) if tracer is not None else None
    return grpc.aio.insecure_channel(resolved, options=channel_options(resolved), interceptors=interceptors)


def channel_options(resolved: str) -> list[tuple[str, int | str]]:
    """Our channel options for a resolved target (see :func:`service_config`)."""
    balanced = resolved.startswith(("ipv4:", "ipv6:", "dns:"))
    return [("grpc.service_config", service_config(balanced)), *CHANNEL_OPTIONS]


# Trace-context keys the propagators write; a client span replaces the caller's.
_TRACE_KEYS = frozenset({"traceparent", "tracestate", "baggage", "x-amzn-trace-id"})
_UNTRACED = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class _ClientSpans:
    """Starts the CLIENT span of a call and ends it when the call is done."""

    def __init__(self, tracer: Tracer, target: str) -> None:
        self._tracer = tracer
        # A replica list names its first address's host (the replicas share one service name).
        first = target.removeprefix("ipv4:").removeprefix("dns:///").split(",")[0]
        host, _, port = first.rpartition(":")
        self._server = {"server.address": host or first}
        if port.isdigit() and "," not in target:
            self._server["server.port"] = port
        self._pending: set[asyncio.Future[None]] = set()

    @staticmethod
    def traced(details: grpc.aio.ClientCallDetails) -> bool:
        """Health checks and reflection are plumbing, not a request's work: no span."""
        method = details.method.decode() if isinstance(details.method, bytes) else str(details.method)
        return not method.startswith(_UNTRACED)

    def start(self, details: grpc.aio.ClientCallDetails) -> tuple[trace.Span, grpc.aio.ClientCallDetails]:
        method = details.method.decode() if isinstance(details.method, bytes) else str(details.method)
        attributes: dict[str, Any] = {**rpc_attributes(method), **self._server}
        span = self._tracer.start_span(method.lstrip("/"), kind=SpanKind.CLIENT, attributes=attributes)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        metadata = grpc.aio.Metadata(*[(k, v) for k, v in (details.metadata or ()) if k not in _TRACE_KEYS])
        for key, value in carrier.items():
            metadata.add(key.lower(), value)
        return span, grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    def finish_when_done(self, span: trace.Span, call: Any) -> None:
        def done(_: Any) -> None:
            ended = time.time_ns()

            async def record() -> None:
                try:
                    code = await call.code()
                except (asyncio.CancelledError, grpc.RpcError):
                    code = grpc.StatusCode.CANCELLED
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                if code != grpc.StatusCode.OK:
                    span.set_status(Status(StatusCode.ERROR, code.name))
                span.end(end_time=ended)

            future = asyncio.ensure_future(record())
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

        call.add_done_callback(done)

    async def around(self, continuation: Callable[..., Any], client_call_details: Any, request: Any) -> Any:
        """Make the call inside its CLIENT span: the span ends when the call does (at once if
        starting the call raised); calls ``traced`` rejects go through untouched."""
        if not self.traced(client_call_details):
            return await continuation(client_call_details, request)
        span, details = self.start(client_call_details)
        try:
            call = await continuation(details, request)
        except BaseException:
            span.end()
            raise
        self.finish_when_done(span, call)
        return call


class _UnaryUnaryTracing(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, spans: _ClientSpans) -> None:
        self._spans = spans

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await self._spans.around(continuation, client_call_details, request)


class _UnaryStreamTracing(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, spans: _ClientSpans) -> None:
        self._spans = spans

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await self._spans.around(continuation, client_call_details, request)


def client_tracing(tracer: Tracer, target: str) -> list[grpc.aio.ClientInterceptor]:
    """The CLIENT-span interceptors for a channel to ``target`` (unary and server-streaming calls)."""
    spans = _ClientSpans(tracer, target)
    return [_UnaryUnaryTracing(spans), _UnaryStreamTracing(spans)]


_HEALTH_CHECK = "/grpc.health.v1.Health/Check"


async def health_status(channel: grpc.aio.Channel, service: str, timeout_s: float) -> str:
    """The ``grpc.health.v1`` status name of ``service`` behind ``channel``, or ``UNREACHABLE``."""
    check = channel.unary_unary(
        _HEALTH_CHECK,
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    try:
        reply: health_pb2.HealthCheckResponse = await check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
        )
    except grpc.aio.AioRpcError:
        return "UNREACHABLE"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
