"""``FrameConnection.write_now`` on a real WebSocket (a server on an ephemeral port and a client)."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from mangaassist.orchestrator.outbox import FrameConnection, Outbox

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_frames_written_at_once_arrive_whole_and_in_order_and_a_full_buffer_refuses_them() -> None:
    connections: asyncio.Queue[FrameConnection] = asyncio.Queue()
    release = asyncio.Event()

    async def handler(ws: FrameConnection) -> None:
        await connections.put(ws)
        await release.wait()

    async with serve(handler, "127.0.0.1", 0, create_connection=FrameConnection, write_limit=4096) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", max_size=None) as client:
            ws = await connections.get()
            try:
                assert isinstance(ws, FrameConnection)
                frames = [{"type": "token", "request_id": "r", "text": f"{i}:日本語"} for i in range(3)]
                assert ws.write_now(frames[:1]) and ws.write_now(frames[1:])  # 1 frame, then 2 in one write
                assert [orjson.loads(await client.recv()) for _ in range(3)] == frames
                # Small kernel buffers and a client that is not reading: once they and the write
                # limit are full, write_now refuses (writes nothing) and the outbox queues; when the
                # client reads again, every frame arrives whole and in order.
                ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
                client.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                box = Outbox(ws, max_tokens=100_000, coalesce_chars=1)
                big = "x" * 60_000
                for i in range(200):
                    box.put({"type": "token", "request_id": "r", "text": f"{i}{big}"})
                assert ws.paused and 0 < box.direct < 200
                assert not ws.write_now([{"type": "token", "request_id": "r", "text": "refused"}])
                for i in range(200):
                    assert orjson.loads(await client.recv())["text"] == f"{i}{big}"
                assert await box.flushed(5)
                await box.close()
            finally:
                release.set()
