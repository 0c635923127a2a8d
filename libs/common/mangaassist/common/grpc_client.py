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
caller already puts its trace context in the metadata (``outgoing_metadata``); our wrapper
(``TracedChannel``) replaces those keys with the client span's context instead of appending
a second ``traceparent`` the server would have to choose between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Generator
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
    channel = grpc.aio.insecure_channel(resolved, options=channel_options(resolved))
    return TracedChannel(channel, tracer, resolved) if tracer is not None else channel


def channel_options(resolved: str) -> list[tuple[str, int | str]]:
    """Our channel options for a resolved target (see :func:`service_config`)."""
    balanced = resolved.startswith(("ipv4:", "ipv6:", "dns:"))
    return [("grpc.service_config", service_config(balanced)), *CHANNEL_OPTIONS]


# Trace-context keys the propagators write; a client span replaces the caller's.
_TRACE_KEYS = frozenset({"traceparent", "tracestate", "baggage", "x-amzn-trace-id"})
_UNTRACED = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _end(span: trace.Span, code: grpc.StatusCode, end_time: int | None = None) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end(end_time=end_time)


class _ClientSpans:
    """Starts the CLIENT span of one method's calls, with the span's trace context in the
    call's metadata (the caller's own trace keys dropped)."""

    def __init__(self, tracer: Tracer, target: str, method: str) -> None:
        self._tracer = tracer
        # A replica list names its first address's host (the replicas share one service name).
        first = target.removeprefix("ipv4:").removeprefix("dns:///").split(",")[0]
        host, _, port = first.rpartition(":")
        self._attributes: dict[str, Any] = {**rpc_attributes(method), "server.address": host or first}
        if port.isdigit() and "," not in target:
            self._attributes["server.port"] = port
        self._name = method.lstrip("/")

    def start(self, metadata: Any) -> tuple[trace.Span, tuple[tuple[str, Any], ...]]:
        span = self._tracer.start_span(self._name, kind=SpanKind.CLIENT, attributes=self._attributes)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        kept = tuple((k, v) for k, v in (metadata or ()) if k not in _TRACE_KEYS)
        return span, kept + tuple((k.lower(), v) for k, v in carrier.items())

    def invoke(self, inner: Any, request: Any, metadata: Any, kwargs: dict[str, Any]) -> tuple[trace.Span, Any]:
        """Start the call's span and the call under it (the span ends if the call cannot start)."""
        span, metadata = self.start(metadata)
        try:
            return span, inner(request, metadata=metadata, **kwargs)
        except BaseException:
            span.end()
            raise


class _TracedUnaryCall:
    """A unary call that ends its CLIENT span when it is awaited (every caller awaits its
    unary calls): the outcome is read from the reply or the error, with no task of its own.
    Everything else is the call's."""

    __slots__ = ("_call", "_span")

    def __init__(self, call: Any, span: trace.Span) -> None:
        self._call = call
        self._span: trace.Span | None = span

    def _finish(self, code: grpc.StatusCode) -> None:
        if self._span is not None:
            _end(self._span, code)
            self._span = None

    def __await__(self) -> Generator[Any, None, Any]:
        try:
            response = yield from self._call.__await__()
        except grpc.aio.AioRpcError as exc:
            self._finish(exc.code())
            raise
        except asyncio.CancelledError:
            self._finish(grpc.StatusCode.CANCELLED)
            raise
        except BaseException:
            self._finish(grpc.StatusCode.UNKNOWN)
            raise
        self._finish(grpc.StatusCode.OK)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class _TracedUnaryUnary(grpc.aio.UnaryUnaryMultiCallable):  # type: ignore[type-arg]
    def __init__(self, inner: grpc.aio.UnaryUnaryMultiCallable, spans: _ClientSpans) -> None:  # type: ignore[type-arg]
        self._inner = inner
        self._spans = spans

    def __call__(self, request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
        span, call = self._spans.invoke(self._inner, request, metadata, kwargs)
        return _TracedUnaryCall(call, span)


class _TracedUnaryStream(grpc.aio.UnaryStreamMultiCallable):  # type: ignore[type-arg]
    """A stream's span ends when the call is done (it may outlive the caller's loop over it)."""

    def __init__(self, inner: grpc.aio.UnaryStreamMultiCallable, spans: _ClientSpans) -> None:  # type: ignore[type-arg]
        self._inner = inner
        self._spans = spans
        self._pending: set[asyncio.Future[None]] = set()

    def __call__(self, request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
        span, call = self._spans.invoke(self._inner, request, metadata, kwargs)

        def done(_: Any) -> None:
            ended = time.time_ns()

            async def record() -> None:
                try:
                    code = await call.code()
                except (asyncio.CancelledError, grpc.RpcError):
                    code = grpc.StatusCode.CANCELLED
                _end(span, code, ended)

            future = asyncio.ensure_future(record())
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

        call.add_done_callback(done)
        return call


class TracedChannel(grpc.aio.Channel):
    """A channel whose unary-unary and unary-stream calls each get a CLIENT span (see the
    module's docstring), started by a thin wrapper of the method rather than a gRPC client
    interceptor: an intercepted call runs the interceptor in a task of its own and relays
    every streamed message through another generator (decision 0011). Health checks and
    reflection are plumbing, not a request's work: no span."""

    def __init__(self, channel: grpc.aio.Channel, tracer: Tracer, target: str) -> None:
        self._channel = channel
        self._tracer = tracer
        self._target = target

    async def __aenter__(self) -> TracedChannel:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._channel.close(None)

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        inner = self._channel.unary_unary(method, *args, **kwargs)
        if method.startswith(_UNTRACED):
            return inner
        return _TracedUnaryUnary(inner, _ClientSpans(self._tracer, self._target, method))

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        inner = self._channel.unary_stream(method, *args, **kwargs)
        if method.startswith(_UNTRACED):
            return inner
        return _TracedUnaryStream(inner, _ClientSpans(self._tracer, self._target, method))

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._channel.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._channel.stream_stream(method, *args, **kwargs)


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
