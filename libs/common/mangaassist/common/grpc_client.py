"""Channels to downstream services: created once at start, shared by every request.

One HTTP/2 connection per downstream multiplexes all concurrent calls; keepalive pings
keep it warm and detect dead peers; a short reconnect backoff picks a restarted
downstream up within a couple of seconds.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
]


def open_channel(target: str) -> grpc.aio.Channel:
    """An insecure (in-VPC / loopback) channel to ``host:port`` with our keepalive policy."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


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
