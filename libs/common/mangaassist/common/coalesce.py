"""Coalesce a stream of text deltas: several small deltas leave as one bigger one.

Every streamed delta costs a message on each hop (a gRPC message, a WebSocket frame),
and that per-message cost, not the bytes, is what a streamed answer spends its CPU on.
``coalesce`` sends the first delta at once (time to first token does not move), then
gathers what follows for at most ``window_s`` or until ``max_chars`` are waiting, and
sends that as one delta. Text is only ever concatenated in arrival order: nothing is
reordered or dropped, and any other item (a final event) first flushes the text before it.

Written here rather than taken from a library: aiostream's ``chunks``/``timeout`` operators
batch by count or cancel the source on timeout, and neither sends the first item at once
nor keeps a reader's pending read alive across the window; this is ~60 lines on a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def coalesce(source: AsyncIterable[str | T], window_s: float, max_chars: int) -> AsyncGenerator[str | T, None]:
    """``source`` with its consecutive ``str`` items merged (see the module docstring).

    An exception from ``source`` is raised after the text that came before it has been
    yielded. With ``window_s <= 0`` only deltas already waiting are merged.
    """
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in source:
                queue.put_nowait(item)
        except Exception as exc:
            queue.put_nowait(_Raised(exc))
        queue.put_nowait(_END)

    loop = asyncio.get_running_loop()
    reader = asyncio.create_task(pump())
    first = True
    held: object = None  # an item taken while gathering that must go out after the text
    try:
        while True:
            item = held if held is not None else await queue.get()
            held = None
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            if not isinstance(item, str) or first:
                first = first and not isinstance(item, str)
                yield item  # type: ignore[misc]
                continue
            parts = [item]
            size = len(item)
            deadline = loop.time() + window_s
            while size < max_chars:
                try:
                    nxt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    if loop.time() >= deadline:
                        break
                    try:
                        async with asyncio.timeout_at(deadline):
                            nxt = await queue.get()
                    except TimeoutError:
                        break
                if not isinstance(nxt, str):
                    held = nxt
                    break
                parts.append(nxt)
                size += len(nxt)
            yield "".join(parts)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
