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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from mangaassist.orchestrator.schema import ErrorCode, RequestError


class SlowReaderError(RequestError):
    """The connection's reader fell too far behind: this request ends ``stream_interrupted``.

    The client's doing, not a downstream's: the guards do not count it against the model."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.STREAM_INTERRUPTED, "the connection is not reading the answer fast enough")


class Outbox:
    """Frames waiting for one connection, written in order by one task."""

    def __init__(self, ws: ServerConnection, max_tokens: int, coalesce_chars: int) -> None:
        self._ws = ws
        self._max_tokens = max_tokens
        self._coalesce_chars = coalesce_chars
        self._queue: deque[dict[str, Any]] = deque()
        self._tokens = 0
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._failed: ConnectionClosed | None = None
        self._writer = asyncio.create_task(self._write())
        self.coalesced = 0  # token frames appended to a waiting one (for tests and stats)
        self.overflows = 0

    def put(self, frame: dict[str, Any]) -> None:
        """Queue ``frame``; raises the connection's ``ConnectionClosed`` once it is gone, and
        ``SlowReaderError`` (``stream_interrupted``) for a token that does not fit."""
        if self._failed is not None:
            raise self._failed
        if frame.get("type") == "token":
            last = self._queue[-1] if self._queue else None
            if (
                last is not None
                and last.get("type") == "token"
                and last.get("request_id") == frame.get("request_id")
                and len(last["text"]) + len(frame["text"]) <= self._coalesce_chars
            ):
                last["text"] += frame["text"]
                self.coalesced += 1
                return
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
                frame = self._queue.popleft()
                if frame.get("type") == "token":
                    self._tokens -= 1
                # orjson's UTF-8 bytes go out as a text frame as they are (no str round trip).
                await self._ws.send(orjson.dumps(frame), text=True)
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
