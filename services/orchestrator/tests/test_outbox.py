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


class DirectSocket(HeldSocket):
    """A fake with ``write_now`` (as ``FrameConnection``): takes frames at once while
    ``writable``; every call is one socket write (recorded in ``writes``)."""

    def __init__(self) -> None:
        super().__init__()
        self.writable = True
        self.writes: list[list[dict[str, Any]]] = []

    def write_now(self, frames: Any) -> bool:
        if not self.writable:
            return False
        batch = [orjson.loads(orjson.dumps(f)) for f in frames]
        self.writes.append(batch)
        self.sent.extend(batch)
        return True


async def test_a_frame_goes_to_the_socket_from_put_when_nothing_waits() -> None:
    ws = DirectSocket()
    box = Outbox(ws, max_tokens=100, coalesce_chars=64)  # type: ignore[arg-type]
    box.put(token("a", "one"))
    box.put(token("a", "two"))
    box.put({"type": "done", "request_id": "a"})
    # No await: each frame was written by put itself, one write each, in order.
    assert [len(w) for w in ws.writes] == [1, 1, 1]
    assert [f.get("text", f["type"]) for f in ws.sent] == ["one", "two", "done"]
    assert box.direct == 3
    assert await box.flushed(1)
    await box.close()


async def test_frames_that_waited_for_a_full_buffer_leave_together_in_order_after_it_drains() -> None:
    ws = DirectSocket()
    box = Outbox(ws, max_tokens=100, coalesce_chars=8)  # type: ignore[arg-type]
    box.put(token("a", "first"))
    ws.writable = False  # the client stopped reading: the buffer is over its limit
    ws.gate.clear()
    for piece in ("二", "three", "4", "fünf"):
        box.put(token("a", piece))
    box.put(token("b", "x"))
    box.put({"type": "done", "request_id": "a"})
    await asyncio.sleep(0)  # the writer takes the first waiting frame and waits on send()
    box.put(token("b", "y"))  # must not overtake what is waiting, even once the socket takes frames
    ws.writable = True
    box.put(token("b", "z"))
    ws.gate.set()
    assert await box.flushed(5)
    texts = [(f["request_id"], f.get("text")) for f in ws.sent]
    assert texts == [("a", "first"), ("a", "二three4"), ("a", "fünf"), ("b", "x"), ("a", None), ("b", "yz")]
    # Everything that waited behind the first blocked frame left in one write.
    assert ws.writes[-1] == ws.sent[2:]
    await box.close()


@pytest.mark.parametrize("seed", range(20))
async def test_the_text_a_client_reads_is_the_text_put_byte_for_byte_whatever_the_socket_does(seed: int) -> None:
    """Coalescing and direct writes never reorder, drop or repeat text: per request, the
    concatenated token frames equal the concatenated deltas put, with the socket taking
    frames at once, refusing them, and holding sends at random points."""
    import random

    rng = random.Random(seed)
    ws = DirectSocket()
    box = Outbox(ws, max_tokens=10_000, coalesce_chars=rng.choice([1, 5, 64]))  # type: ignore[arg-type]
    put: dict[str, str] = {"a": "", "b": ""}
    alphabet = "abcXYZ日本語の漫画🙂 é\n"
    for _ in range(300):
        rid = rng.choice("ab")
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        put[rid] += text
        box.put(token(rid, text))
        if rng.random() < 0.2:
            ws.writable = not ws.writable
        if rng.random() < 0.1:
            ws.gate.clear() if ws.gate.is_set() else ws.gate.set()
        if rng.random() < 0.3:
            await asyncio.sleep(0)
    ws.writable = True
    ws.gate.set()
    assert await box.flushed(5)
    got = {rid: "".join(f["text"] for f in ws.sent if f["request_id"] == rid) for rid in put}
    assert got == put
    await box.close()
