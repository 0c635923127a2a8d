"""One WebSocket connection's bounded send queue and the task that writes it.

A request hands its frames to the outbox and goes on at once: it never waits for the
client to read, so the model's slot (the inference bulkhead) is given back when the model
finishes, not when a slow reader has read the last token. A token frame whose request
already has a token frame waiting in the queue is appended to that frame (the deltas
that are waiting leave as one frame; text is only concatenated, in order). At most
``max_tokens`` token frames wait per connection: a reader that falls that far behind gets
``stream_interrupted`` for the request that overflowed, and only that connection notices.
Terminal and control frames (``done``, ``error``, ``guardrail``) are never refused, so a
request always ends with its own terminal frame; their number is bounded by the requests in
flight per connection.

Writing costs a socket write per frame (decision 0011), so a frame goes to the socket
straight from ``put`` when nothing is waiting before it and the socket takes it now (its
buffer is under the write limit): no wake-up of the writer task, no await. Otherwise it
waits in the queue, and the writer sends every frame waiting at once in one socket write.
Either way frames leave in the order they were put.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from mangaassist.orchestrator.schema import ErrorCode, RequestError


class SlowReaderError(RequestError):
    """The connection's reader fell too far behind: this request ends ``stream_interrupted``.

    The client's doing, not a downstream's: the guards do not count it against the model."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.STREAM_INTERRUPTED, "the connection is not reading the answer fast enough")


class FrameSocket(Protocol):
    """What the outbox writes to: a WebSocket connection (``FrameConnection`` in service)."""

    async def send(self, message: bytes, *, text: bool | None = ...) -> None: ...


class FrameConnection(ServerConnection):
    """The orchestrator's WebSocket connection: ``ServerConnection`` plus ``write_now``, which
    hands text frames to the socket without a task switch or an await (see the module's
    docstring); ``send`` is unchanged and is what the writer uses when a frame must wait."""

    def write_now(self, frames: Iterable[dict[str, Any]]) -> bool:
        """Write ``frames`` as JSON text frames in one socket write, if the connection is open
        and its write buffer is under the limit; ``False`` (nothing written) otherwise, and the
        caller queues them for ``send``, which waits for the buffer to drain."""
        if self.protocol.state is not State.OPEN or self.paused or self.send_in_progress is not None:
            return False
        for frame in frames:
            # orjson's UTF-8 bytes go out as a text frame as they are (no str round trip).
            self.protocol.send_text(orjson.dumps(frame))
        data = self.protocol.data_to_send()
        try:
            if len(data) == 1:
                self.transport.write(data[0])
            else:
                self.transport.writelines(data)
        except Exception as exc:  # as send(): a failed write ends the connection
            self.set_connection_exc(exc)
            self.transport.abort()
        return True


class Outbox:
    """Frames waiting for one connection, written in order (at once when nothing waits)."""

    def __init__(self, ws: FrameSocket, max_tokens: int, coalesce_chars: int) -> None:
        self._ws = ws
        # A plain ServerConnection (and the tests' fakes) has no write_now: every frame queues.
        self._write_now: Callable[[Iterable[dict[str, Any]]], bool] | None = getattr(ws, "write_now", None)
        self._max_tokens = max_tokens
        self._coalesce_chars = coalesce_chars
        self._queue: deque[dict[str, Any]] = deque()
        self._tokens = 0
        self._sending = False  # the writer is inside send(): nothing may overtake its frames
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._failed: ConnectionClosed | None = None
        self._writer = asyncio.create_task(self._write())
        self.coalesced = 0  # token frames appended to a waiting one (for tests and stats)
        self.overflows = 0
        self.direct = 0  # frames written straight from put (for tests and stats)

    def put(self, frame: dict[str, Any]) -> None:
        """Write or queue ``frame``; raises the connection's ``ConnectionClosed`` once it is
        gone, and ``SlowReaderError`` (``stream_interrupted``) for a token that does not fit."""
        if self._failed is not None:
            raise self._failed
        is_token = frame.get("type") == "token"
        if not self._queue:
            if self._write_now is not None and not self._sending and self._write_now((frame,)):
                self.direct += 1
                return
        elif is_token:
            last = self._queue[-1]
            if (
                last.get("type") == "token"
                and last.get("request_id") == frame.get("request_id")
                and len(last["text"]) + len(frame["text"]) <= self._coalesce_chars
            ):
                last["text"] += frame["text"]
                self.coalesced += 1
                return
        if is_token:
            if self._tokens >= self._max_tokens:
                self.overflows += 1
                raise SlowReaderError()
            self._tokens += 1
            frame = dict(frame)  # a waiting token frame may grow; never the caller's dict
        self._queue.append(frame)
        self._empty.clear()
        self._wake.set()

    async def _write(self) -> None:
        try:
            while True:
                if not self._queue:
                    self._empty.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                # Every frame waiting now leaves in one socket write when the socket takes
                # them at once; otherwise the first waits for the buffer to drain (send).
                if self._write_now is not None and self._write_now(self._queue):
                    self._tokens -= sum(1 for f in self._queue if f.get("type") == "token")
                    self._queue.clear()
                    continue
                frame = self._queue.popleft()
                if frame.get("type") == "token":
                    self._tokens -= 1
                self._sending = True
                try:
                    await self._ws.send(orjson.dumps(frame), text=True)
                finally:
                    self._sending = False
        except ConnectionClosed as exc:
            self._failed = exc
            self._queue.clear()
            self._empty.set()

    async def flushed(self, timeout_s: float) -> bool:
        """Wait until every queued frame was handed to the socket (or the connection is gone)."""
        try:
            await asyncio.wait_for(self._empty.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
