"""A client that stops reading: its own requests end with `stream_interrupted`, the model's
slots are given back without waiting for it, and another customer notices nothing.

Real processes: the whole local cluster, with a small per-connection send queue and socket
buffers so a stopped reader fills them with a few answers; the slow client's socket has a
small receive buffer and is not read until the end.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.pytest_fixtures import start_cluster
from tests.conftest import ask

pytestmark = pytest.mark.integration

QUESTIONS = [
    f"おすすめのダークファンタジーは？ {topic}について詳しく"
    for topic in ("騎士", "魔法", "竜", "復讐", "呪い", "王国", "傭兵", "悪魔")
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    prefix = "MANGAASSIST_ORCHESTRATOR_"
    c = start_cluster(
        tmp_path_factory.mktemp("slow-reader-logs"),
        **{
            prefix + "SEND_QUEUE_TOKENS": "2",
            prefix + "SEND_COALESCE_CHARS": "4",
            prefix + "WS_WRITE_LIMIT_BYTES": "1024",
            prefix + "WS_SEND_BUFFER_BYTES": "2048",
            # A slow model stream: the answers are still streaming when the buffers fill.
            "MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS": "5",
        },
    )
    yield c
    c.stop()


def status(cluster: Cluster) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{cluster.address('admin')}/admin/status", timeout=5) as resp:
        body: dict[str, Any] = json.loads(resp.read())
    return body


async def test_a_stopped_reader_ends_only_its_own_requests_and_holds_no_model_slot(
    cluster: Cluster,
    tmp_path: Path,
) -> None:
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: a small window
    host, port = cluster.address("orchestrator").rsplit(":", 1)
    raw.connect((host, int(port)))
    raw.setblocking(False)
    async with connect(cluster.ws_url, sock=raw, compression=None, max_size=None, ping_interval=None) as slow:
        for i, text in enumerate(QUESTIONS):
            await slow.send(json.dumps({"type": "query", "request_id": f"slow-{i}", "text": text}, ensure_ascii=False))
        # The slow client reads nothing now. Its requests still finish on the server side
        # (done or interrupted), so nothing of it stays in flight or holds a model slot.
        async with asyncio.timeout(30):
            while True:
                now = status(cluster)
                busy = [g["bulkhead"]["active"] for n, g in now["guards"].items() if n.startswith("inference:")]
                if now["inflight_requests"] == 0 and sum(busy) == 0:
                    break
                await asyncio.sleep(0.1)
        # Another customer, meanwhile, is answered in full.
        async with connect(cluster.ws_url, compression=None) as other:
            frames = await ask(other, "Recommend a fantasy manga with dragons", request_id="other")
        assert frames[-1]["type"] == "done", frames[-1]
        assert frames[:-1] and all(f["type"] == "token" for f in frames[:-1])
        # The slow client reads at last: every request has exactly one terminal frame, after
        # its tokens; the ones its reader fell behind on say so.
        ends: dict[str, dict[str, Any]] = {}
        texts: dict[str, str] = {}
        async with asyncio.timeout(30):
            while len(ends) < len(QUESTIONS):
                frame = json.loads(await slow.recv())
                rid = frame.get("request_id")
                if frame["type"] == "token":
                    assert rid not in ends, "a token after its request's terminal frame"
                    texts[rid] = texts.get(rid, "") + frame["text"]
                elif frame["type"] in ("done", "error"):
                    assert rid not in ends
                    ends[rid] = frame
    codes = {rid: f.get("code", "done") if f["type"] == "error" else "done" for rid, f in ends.items()}
    assert "stream_interrupted" in codes.values(), codes
    assert set(codes.values()) <= {"done", "stream_interrupted"}, codes
    for rid, frame in ends.items():
        if frame["type"] == "error":
            assert "not reading" in frame["message"]
        else:
            assert texts.get(rid), f"{rid} finished without its answer's text"
