"""The per-connection send queue (unit: an in-memory fake socket whose sends can be held)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from mangaassist.orchestrator.outbox import Outbox, SlowReaderError


class HeldSocket:
    """In-memory fake of a ServerConnection: records frames; ``release`` lets sends complete."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, message: bytes, text: bool = False) -> None:
        assert text and isinstance(message, bytes)
        await self.gate.wait()
        self.sent.append(orjson.loads(message))


def token(rid: str, text: str) -> dict[str, Any]:
    return {"type": "token", "request_id": rid, "text": text}


async def test_waiting_tokens_of_one_request_leave_as_one_frame_in_order() -> None:
    ws = HeldSocket()
    ws.gate.clear()  # the client is not reading yet
    box = Outbox(ws, max_tokens=100, coalesce_chars=10)  # type: ignore[arg-type]
    box.put(token("a", "one"))
    await asyncio.sleep(0)  # the writer takes the first frame (and waits on the socket)
    for piece in ("二", "three", "4", "fünf"):
        box.put(token("a", piece))
    box.put(token("b", "x"))  # another request's token is not merged into a's
    box.put(token("a", "6"))
    box.put({"type": "done", "request_id": "a"})
    ws.gate.set()
    assert await box.flushed(5)
    texts = [(f["request_id"], f.get("text")) for f in ws.sent]
    assert texts == [("a", "one"), ("a", "二three4"), ("a", "fünf"), ("b", "x"), ("a", "6"), ("a", None)]
    await box.close()


async def test_a_reader_that_falls_behind_interrupts_the_request_but_terminal_frames_still_go() -> None:
    ws = HeldSocket()
    ws.gate.clear()
    box = Outbox(ws, max_tokens=2, coalesce_chars=1)  # type: ignore[arg-type]
    box.put(token("a", "1"))
    await asyncio.sleep(0)
    box.put(token("a", "2"))
    box.put(token("a", "3"))
    with pytest.raises(SlowReaderError) as caught:
        box.put(token("a", "4"))
    assert caught.value.code.value == "stream_interrupted"
    box.put({"type": "error", "request_id": "a", "code": "stream_interrupted"})  # never refused
    ws.gate.set()
    assert await box.flushed(5)
    assert [f.get("text", f["type"]) for f in ws.sent] == ["1", "2", "3", "error"]
    await box.close()
