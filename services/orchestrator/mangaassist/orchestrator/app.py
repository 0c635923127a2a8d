"""The orchestrator's front door: the contract's WebSocket at ``/ws``, ``GET /livez``, ``GET /healthz`` and the chat page at ``GET /``.

``/admin/*`` (breakers, pools, the after-answer queue) is never answered on that public
listener: it is served only on a second, loopback-only listener (``admin_host``/``admin_port``),
reachable from the task itself (or an ECS Exec port forward), not from the load balancer.

``/livez`` is liveness, what load balancers and ECS check: 200 while this process can serve
at all, whatever its downstreams say (a failing inference service degrades answers; it must
not make every orchestrator task look dead and drop every WebSocket). ``/healthz`` is
readiness: 200 only when every downstream is SERVING, else 503 naming the ones that are not.

Each connection reads frames in order and answers each query in its own task, so a
slow answer never blocks the next frame and a bad frame only gets its own ``error``
frame. Connections share nothing but the pipeline (and its gRPC channels).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import weakref
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import grpc
import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from mangaassist.common.grpc_client import health_status
from mangaassist.common.metrics import observe_websocket_work
from mangaassist.common.pools import PoolManager
from mangaassist.orchestrator.auth import (
    ANONYMOUS_COOKIE,
    Identity,
    TokenVerifier,
    anonymous_secret,
    new_anonymous_secret,
)
from mangaassist.orchestrator.catalog_watch import CatalogWatcher
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.edge import ConnectionLimits, QuestionLimits, origin_allowed
from mangaassist.orchestrator.outbox import FrameConnection, Outbox
from mangaassist.orchestrator.pipeline import Pipeline
from mangaassist.orchestrator.recovery import BreakerRecovery
from mangaassist.orchestrator.schema import ErrorCode, error_frame
from mangaassist.orchestrator.web import StaticSite

logger = logging.getLogger(__name__)

DOWNSTREAM_SERVICES = {
    "intent": "mangaassist.intent.v1.IntentService",
    "retrieval": "mangaassist.retrieval.v1.RetrievalService",
    "inference": "mangaassist.inference.v1.InferenceService",
}


def _json_response(status: HTTPStatus, body: dict[str, Any]) -> Response:
    payload = orjson.dumps(body)
    headers = Headers(
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), ("Cache-Control", "no-store")]
    )
    return Response(status.value, status.phrase, headers, payload)


@dataclass(eq=False)
class Orchestrator:
    """Owns the WebSocket server, in-flight request tracking and the drain."""

    settings: OrchestratorSettings
    pipeline: Pipeline
    channels: dict[str, grpc.aio.Channel]
    verifier: TokenVerifier
    watcher: CatalogWatcher | None = None
    pools: PoolManager | None = None

    def __post_init__(self) -> None:
        self._draining = False
        self._inflight: set[asyncio.Task[None]] = set()
        self._outboxes: set[Outbox] = set()
        self._server: Server | None = None
        self._admin: Server | None = None
        # The anonymous secret each handshake settled on (read by the connection's handler).
        self._anonymous: weakref.WeakKeyDictionary[ServerConnection, str] = weakref.WeakKeyDictionary()
        self._site = StaticSite()
        self._limits = QuestionLimits.from_settings(self.settings)
        self._connections = ConnectionLimits(self.settings.max_connections, self.settings.max_connections_per_ip)
        observe_websocket_work(lambda: self._connections.open, lambda: len(self._inflight))
        self._recovery = BreakerRecovery(self.pipeline.guards, self._health_of, set(self.channels))

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def admin_port(self) -> int | None:
        return int(self._admin.sockets[0].getsockname()[1]) if self._admin is not None else None

    async def start(self) -> None:
        self._server = await serve(
            self._connection,
            self.settings.host,
            self.settings.port,
            process_request=self._http,
            process_response=self._handshake_done,
            create_connection=FrameConnection,
            # Our own limit answers `too_large`; this one only stops abusive frames.
            max_size=max(1 << 20, self.settings.max_frame_bytes * 4),
            compression=None,
            write_limit=self.settings.ws_write_limit_bytes,
            ping_interval=20,
            ping_timeout=20,
            open_timeout=self.settings.handshake_timeout_s,
        )
        logger.info("listening", extra={"address": f"{self.settings.host}:{self.port}"})
        self._recovery.start()
        if self.settings.admin_port is not None:
            # Plain HTTP on the same library: every request is answered in process_request,
            # so no WebSocket is ever opened here.
            self._admin = await serve(
                self._refuse_socket,
                self.settings.admin_host,
                self.settings.admin_port,
                process_request=self._admin_http,
                compression=None,
                open_timeout=self.settings.handshake_timeout_s,
            )
            logger.info("admin listening", extra={"address": f"{self.settings.admin_host}:{self.admin_port}"})

    @staticmethod
    async def _refuse_socket(ws: ServerConnection) -> None:
        await ws.close(1008, "no WebSocket here")

    async def _admin_http(self, connection: ServerConnection, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        if path == "/admin/status":
            return _json_response(HTTPStatus.OK, self.admin_status())
        return _json_response(HTTPStatus.NOT_FOUND, {"error": "not found", "admin": ["/admin/status"]})

    def admin_status(self) -> dict[str, Any]:
        post = self.pipeline.post
        return {
            "guards": self.pipeline.guards.snapshot(),
            "postprocess": {**vars(post.stats), "pending": post.pending},
            "inflight_requests": len(self._inflight),
            "asyncio_tasks": len(asyncio.all_tasks()),  # the soak bench watches it stay flat
            "channels": {n: str(c.get_state(try_to_connect=False).name) for n, c in self.channels.items()},
            "catalog_watch": vars(self.watcher.stats) if self.watcher is not None else None,
            "pools": self.pools.health() if self.pools is not None else [],
        }

    def _handshake_done(self, connection: ServerConnection, request: Request, response: Response) -> None:
        """Settle the browser's anonymous secret: the one its cookie carries, or a new one
        set as an HttpOnly cookie on the upgrade (see auth.py)."""
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS:
            return
        secret = anonymous_secret(request.headers.get("Cookie"))
        if secret is None:
            secret = new_anonymous_secret()
            attributes = "; Secure" if self.settings.anonymous_cookie_secure else ""
            response.headers["Set-Cookie"] = (
                f"{ANONYMOUS_COOKIE}={secret}; Path=/ws; HttpOnly; SameSite=Strict; Max-Age=2592000{attributes}"
            )
        self._anonymous[connection] = secret

    async def _health_of(self, name: str) -> str:
        return await health_status(self.channels[name], DOWNSTREAM_SERVICES[name], self.settings.health_timeout_s)

    async def downstream_health(self) -> dict[str, str]:
        names = list(self.channels)
        results = await asyncio.gather(*(self._health_of(n) for n in names))
        return dict(zip(names, results, strict=True))

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/livez":
            # Shallow on purpose: no downstream call, answered by the event loop alone.
            if self._draining:
                return _json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "draining"})
            return _json_response(
                HTTPStatus.OK,
                {"status": "alive", "connections": self._connections.open, "inflight_requests": len(self._inflight)},
            )
        if path == "/healthz":
            downstreams = await self.downstream_health()
            bad = sorted(n for n, status in downstreams.items() if status != "SERVING")
            breakers = {n: g.breaker.state for n, g in self.pipeline.guards.by_name.items()}
            body: dict[str, Any] = {"downstreams": downstreams, "breakers": breakers}
            if self._draining:
                return _json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "draining", **body})
            if bad:
                return _json_response(
                    HTTPStatus.SERVICE_UNAVAILABLE, {"status": "degraded", "not_serving": bad, **body}
                )
            return _json_response(HTTPStatus.OK, {"status": "ok", **body})
        if path == "/admin" or path.startswith("/admin/"):
            # Only on the loopback admin listener; here it does not exist.
            return _json_response(HTTPStatus.NOT_FOUND, {"error": "not found", "websocket": "/ws"})
        if path == "/ws":
            return self._admit_socket(connection, request)
        page = self._site.response(path, request.headers)
        if page is not None:
            return page
        return _json_response(HTTPStatus.NOT_FOUND, {"error": "not found", "websocket": "/ws"})

    def _peer_ip(self, connection: ServerConnection, request: Request | None) -> str | None:
        if self.settings.trust_forwarded_for and request is not None:
            forwarded = request.headers.get("X-Forwarded-For")
            if forwarded:
                return forwarded.rsplit(",", 1)[-1].strip()
        address = connection.remote_address
        return str(address[0]) if address else None

    def _admit_socket(self, connection: ServerConnection, request: Request) -> Response | None:
        """The handshake's checks (see edge.py): origin, then connection caps."""
        if not origin_allowed(
            request.headers.get("Origin"), request.headers.get("Host"), self.settings.allowed_origins
        ):
            return _json_response(HTTPStatus.FORBIDDEN, {"error": "this page may not open the chat socket"})
        refusal = self._connections.refusal(self._peer_ip(connection, request))
        if refusal == "process":
            return _json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "too many connections; retry shortly"})
        if refusal == "ip":
            return _json_response(HTTPStatus.TOO_MANY_REQUESTS, {"error": "too many connections from this address"})
        return None

    async def _connection(self, ws: ServerConnection) -> None:
        request = ws.request
        ip = self._peer_ip(ws, request)
        if self.settings.ws_send_buffer_bytes:
            sock = ws.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.settings.ws_send_buffer_bytes)
        self._connections.opened(ip)
        try:
            await self._serve_connection(ws, ip)
        finally:
            self._connections.closed(ip)

    async def _serve_connection(self, ws: ServerConnection, ip: str | None) -> None:
        tasks: set[asyncio.Task[None]] = set()
        outbox = Outbox(ws, self.settings.send_queue_tokens, self.settings.send_coalesce_chars)
        self._outboxes.add(outbox)
        request = ws.request
        identity = (
            await self.verifier.identify(
                request.path, request.headers.get("Authorization"), self._anonymous.get(ws) or new_anonymous_secret()
            )
            if request
            else Identity()
        )
        bucket = self._limits.connection_bucket()

        async def emit(frame: dict[str, Any]) -> None:
            outbox.put(frame)  # never waits for the client (see outbox.py)

        async def reject(
            request_id: str | None, code: ErrorCode, message: str, retry_after_s: float | None = None
        ) -> None:
            with contextlib.suppress(ConnectionClosed):
                await emit(error_frame(request_id, code, message, retry_after_s))

        try:
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), self.settings.idle_timeout_s)
                except TimeoutError:
                    if tasks:
                        continue  # quiet while answers stream: not idle
                    await outbox.flushed(self.settings.drain_grace_s)
                    await ws.close(1001, "idle timeout")
                    return
                received_at = time.perf_counter()
                if isinstance(message, bytes):
                    await reject(None, ErrorCode.INVALID_JSON, "frames must be UTF-8 JSON text")
                    continue
                if len(message.encode()) > self.settings.max_frame_bytes:
                    await reject(
                        None, ErrorCode.TOO_LARGE, f"frame is larger than {self.settings.max_frame_bytes} bytes"
                    )
                    continue
                try:
                    raw = orjson.loads(message)
                except orjson.JSONDecodeError:
                    await reject(None, ErrorCode.INVALID_JSON, "frame is not valid JSON")
                    continue
                if not isinstance(raw, dict):
                    await reject(None, ErrorCode.INVALID_REQUEST, "frame must be a JSON object")
                    continue
                request_id = raw.get("request_id") if isinstance(raw.get("request_id"), str) else None
                if self._draining:
                    await reject(request_id, ErrorCode.UNAVAILABLE, "server is restarting; retry shortly")
                    continue
                refused = identity.refusal()
                if refused is not None:
                    # Checked for every question: a connection does not outlive its token.
                    await reject(request_id, ErrorCode.UNAUTHORIZED, refused)
                    continue
                if len(tasks) >= self.settings.max_inflight_per_connection:
                    await reject(
                        request_id,
                        ErrorCode.RATE_LIMITED,
                        f"at most {self.settings.max_inflight_per_connection} queries in flight per connection",
                        retry_after_s=1.0,
                    )
                    continue
                retry_after = await self._limits.admit(bucket, identity.customer_id, ip)
                if retry_after is not None:
                    await reject(
                        request_id,
                        ErrorCode.RATE_LIMITED,
                        f"too many questions; ask again in {retry_after:g} s",
                        retry_after,
                    )
                    continue
                task = asyncio.create_task(self._guarded(raw, received_at, emit, request_id, identity))
                tasks.add(task)
                self._inflight.add(task)
                task.add_done_callback(tasks.discard)
                task.add_done_callback(self._inflight.discard)
        except ConnectionClosed:
            return  # the client hung up: the normal end of a connection
        finally:
            # The client is gone: nobody can read these answers any more.
            for task in tasks:
                task.cancel()
            self._outboxes.discard(outbox)
            await outbox.close()

    async def _guarded(
        self, raw: dict[str, Any], received_at: float, emit: Any, request_id: str | None, identity: Identity
    ) -> None:
        """Run one request; anything unexpected becomes `internal` for this request only."""
        try:
            await self.pipeline.handle(raw, received_at, emit, identity)
        except ConnectionClosed:
            return  # the client hung up mid-answer; nobody is left to tell
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("request failed")
            with contextlib.suppress(ConnectionClosed):
                await emit(error_frame(request_id, ErrorCode.INTERNAL, "internal error"))

    async def drain(self) -> None:
        """Refuse new queries, let in-flight answers finish (up to the grace), then close."""
        self._draining = True
        logger.info("draining", extra={"inflight": len(self._inflight)})
        await self._recovery.stop()
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=self.settings.drain_grace_s)
            for task in pending:
                task.cancel()
        await self.pipeline.post.drain(self.settings.drain_grace_s)
        # Answers that finished are delivered before their connections close.
        await asyncio.gather(*(o.flushed(self.settings.drain_grace_s) for o in list(self._outboxes)))
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._admin is not None:
            self._admin.close()
            await self._admin.wait_closed()
