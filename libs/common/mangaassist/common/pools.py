"""One connection pool manager per process: the pool table of
docs/decisions/0008-budgets-pools-breakers.md, opened and warmed at start, closed at stop,
and the pools' health (active / idle / requests / errors / average checkout time) for the
admin endpoint and as OpenTelemetry metrics.

Why our own: each client library keeps its own pool (aiohttp under aioboto3, redis-py's
connection pool, gRPC's HTTP/2 channel) and none of them reports checkout time or
per-pool errors. This module adds the measuring where each library offers a hook —
aiohttp's request tracing for aiobotocore (through ``AioConfig(http_session_cls=…)``),
a subclass of redis-py's ``BlockingConnectionPool`` (in the orchestrator's cache, its
only user) — and one registry that opens,
warms, reports and closes them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

import aiohttp
from aiobotocore.httpsession import AIOHTTPSession
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolSpec:
    """A row of the pool table (docs/decisions/0008-budgets-pools-breakers.md)."""

    max_connections: int
    max_idle_s: float
    connect_timeout_s: float
    read_timeout_s: float


# Pool size, idle keep-alive and timeouts per downstream (docs/decisions/0008-budgets-pools-breakers.md).
SEED_POOLS: dict[str, PoolSpec] = {
    # Bedrock: 10 is for request/response calls; a streamed answer holds its
    # connection to the last token, so the inference service sizes its pool by the streams
    # the orchestrator admits (``InferenceSettings.max_pool_connections``, 40).
    "bedrock": PoolSpec(10, 60, 2.0, 30.0),
    "opensearch": PoolSpec(20, 120, 2.0, 5.0),
    "dynamodb": PoolSpec(25, 300, 1.0, 3.0),
    "redis": PoolSpec(50, 600, 1.0, 2.0),
}


@dataclass
class PoolStats:
    """Counters one pool keeps; ``checkout_s`` sums the time callers waited for a connection."""

    requests: int = 0
    errors: int = 0
    active: int = 0
    checkouts: int = 0
    checkout_s: float = 0.0
    opened: int = 0

    def health(self, name: str, max_connections: int, idle: int) -> dict[str, Any]:
        avg = self.checkout_s / self.checkouts * 1000 if self.checkouts else 0.0
        return {
            "pool": name,
            "max_connections": max_connections,
            "active": self.active,
            "idle": idle,
            "requests": self.requests,
            "errors": self.errors,
            "connections_opened": self.opened,
            "avg_checkout_ms": round(avg, 4),
        }


# --- aiobotocore (DynamoDB, Bedrock, Titan): aiohttp request tracing ----------------------------


def _tracing(stats: PoolStats) -> aiohttp.TraceConfig:
    """Counts requests/errors/in-flight and times connection checkout (queueing + connecting)."""

    trace = aiohttp.TraceConfig()  # each request gets its own SimpleNamespace context

    async def request_start(_: Any, c: SimpleNamespace, __: Any) -> None:
        stats.requests += 1
        stats.active += 1

    async def request_end(_: Any, c: SimpleNamespace, __: Any) -> None:
        stats.active -= 1

    async def request_exception(_: Any, c: SimpleNamespace, __: Any) -> None:
        stats.active -= 1
        stats.errors += 1

    async def wait_start(_: Any, c: SimpleNamespace, __: Any) -> None:
        c.started = time.perf_counter()

    async def wait_end(_: Any, c: SimpleNamespace, __: Any) -> None:
        stats.checkout_s += time.perf_counter() - c.started

    async def created(_: Any, c: SimpleNamespace, __: Any) -> None:
        stats.opened += 1
        stats.checkouts += 1
        stats.checkout_s += time.perf_counter() - c.started

    async def reused(_: Any, c: SimpleNamespace, __: Any) -> None:
        stats.checkouts += 1

    trace.on_request_start.append(request_start)
    trace.on_request_end.append(request_end)
    trace.on_request_exception.append(request_exception)
    trace.on_connection_queued_start.append(wait_start)
    trace.on_connection_queued_end.append(wait_end)
    trace.on_connection_create_start.append(wait_start)
    trace.on_connection_create_end.append(created)
    trace.on_connection_reuseconn.append(reused)
    return trace


class _MeasuredAIOHTTPSession(AIOHTTPSession):  # type: ignore[misc]  # aiobotocore is untyped
    """aiobotocore's HTTP session with request tracing on its aiohttp session.

    Pinned to aiobotocore 2.25: it re-implements ``_get_session`` (the one place the
    aiohttp ``ClientSession`` is built) to pass ``trace_configs``.
    """

    pool_stats: PoolStats

    async def _get_session(self, proxy_url: str | None) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession | None = self._sessions.get(proxy_url)
        if session is None:
            session = await self._exit_stack.enter_async_context(
                aiohttp.ClientSession(
                    connector=self._create_connector(proxy_url),
                    timeout=self._timeout,
                    skip_auto_headers={"CONTENT-TYPE"},
                    auto_decompress=False,
                    trace_configs=[_tracing(self.pool_stats)],
                )
            )
            self._sessions[proxy_url] = session
        return session


def aiohttp_tracing(stats: PoolStats) -> aiohttp.TraceConfig:
    """The same counters for an ``aiohttp.ClientSession`` built outside aiobotocore."""
    return _tracing(stats)


def aiohttp_idle(session: aiohttp.ClientSession | None) -> int:
    """Idle keep-alive connections in an aiohttp session's connector."""
    conns = getattr(getattr(session, "connector", None), "_conns", {})
    return sum(len(v) for v in conns.values())


def measured_http_session(stats: PoolStats) -> type[AIOHTTPSession]:
    """An ``http_session_cls`` for ``AioConfig`` that reports into ``stats``."""
    return type("MeasuredAIOHTTPSession", (_MeasuredAIOHTTPSession,), {"pool_stats": stats})


def aiobotocore_idle(client: Any) -> int:
    """Idle keep-alive connections in an aiobotocore client's pool (0 before its first call)."""
    http = getattr(getattr(client, "_endpoint", None), "http_session", None)
    total = 0
    for session in getattr(http, "_sessions", {}).values():
        conns = getattr(session.connector, "_conns", {})
        total += sum(len(v) for v in conns.values())
    return total


# --- the registry -------------------------------------------------------------------------


@dataclass
class Pool:
    """One registered pool: how to warm it, close it and read its state."""

    name: str
    max_connections: int
    stats: PoolStats
    idle: Callable[[], int]
    target: str = ""  # URL or host:port, for DNS pre-resolution
    warm: Callable[[], Awaitable[Any]] | None = None
    close: Callable[[], Awaitable[Any]] | None = None
    warmed: bool = field(default=False)

    def health(self) -> dict[str, Any]:
        return {**self.stats.health(self.name, self.max_connections, max(0, self.idle())), "warmed": self.warmed}


async def resolve(target: str) -> None:
    """Pre-resolve ``target``'s host so the first request does not pay for DNS."""
    parsed = urlparse(target if "://" in target else f"tcp://{target}")
    if parsed.hostname:
        default = 443 if parsed.scheme == "https" else 80
        await asyncio.get_running_loop().getaddrinfo(parsed.hostname, parsed.port or default)


# The gauges every pool reports: a key of its ``health()`` -> (metric name, unit).
_GAUGES: dict[str, tuple[str, str]] = {
    "active": ("pool.connections.active", "{connection}"),
    "idle": ("pool.connections.idle", "{connection}"),
    "requests": ("pool.requests", "{request}"),
    "errors": ("pool.errors", "{error}"),
    "avg_checkout_ms": ("pool.checkout.avg", "ms"),
}


class PoolManager:
    def __init__(self, service: str) -> None:
        self._service = service
        self._pools: dict[str, Pool] = {}
        meter = metrics.get_meter("mangaassist.pools")
        for key, (metric, unit) in _GAUGES.items():
            meter.create_observable_gauge(metric, callbacks=[self._observe(key)], unit=unit)

    def _observe(self, key: str) -> Callable[[CallbackOptions], list[Observation]]:
        def callback(options: CallbackOptions) -> list[Observation]:
            return [Observation(h[key], {"service": self._service, "pool": h["pool"]}) for h in self.health()]

        return callback

    def register(self, pool: Pool) -> Pool:
        if pool.name in self._pools:
            raise ValueError(f"pool {pool.name!r} is already registered")
        self._pools[pool.name] = pool
        return pool

    async def warm_all(self, timeout_s: float = 5.0) -> dict[str, bool]:
        """Resolve each pool's host and run its warm-up, concurrently, each bounded by ``timeout_s``.

        A pool that cannot be warmed is logged and left cold (its first request will open
        the connection): a slow dependency must not keep the process from starting.
        """

        async def one(pool: Pool) -> None:
            try:
                async with asyncio.timeout(timeout_s):
                    if pool.target:
                        await resolve(pool.target)
                    if pool.warm is not None:
                        await pool.warm()
                pool.warmed = True
            except Exception as exc:  # warm-up is best effort by design; the reason is logged
                logger.warning(
                    "pool pre-warm did not finish; serving anyway",
                    extra={"pool": pool.name, "error": type(exc).__name__, "timeout_s": timeout_s},
                )

        await asyncio.gather(*(one(p) for p in self._pools.values()))
        return {name: p.warmed for name, p in self._pools.items()}

    async def close_all(self) -> None:
        for pool in reversed(list(self._pools.values())):
            if pool.close is not None:
                try:
                    await pool.close()
                except Exception as exc:  # keep closing the others; the failure is logged
                    logger.warning("pool close failed", extra={"pool": pool.name, "error": type(exc).__name__})

    def health(self) -> list[dict[str, Any]]:
        return [p.health() for p in self._pools.values()]
