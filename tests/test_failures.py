"""A downstream that goes away: a clear `unavailable` fast, health says which, recovery.

These tests stop and restart processes, so they run on a cluster of their own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from mangaassist.devtools.cluster import Cluster, http_health
from tests.conftest import ask, collect, start_cluster


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("fault-logs"), MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS="20")
    yield c
    c.stop()


@pytest.mark.parametrize("victim", ["inference", "intent", "retrieval"])
async def test_stopped_downstream_gives_unavailable_quickly_then_recovers(own_cluster: Cluster, victim: str) -> None:
    assert own_cluster.terminate(victim) == 0
    try:
        async with connect(own_cluster.ws_url) as ws:
            started = time.monotonic()
            frames = await ask(ws, "おすすめの少年マンガを教えて", request_id="down")
            elapsed = time.monotonic() - started
            error = frames[-1]
            assert error["type"] == "error" and error["code"] == "unavailable", frames
            assert error["retryable"] is True
            assert elapsed < 2.0, f"took {elapsed:.2f}s"
            status, body = http_health(own_cluster.health_url)
            assert status == 503 and body["not_serving"] == [victim]
            # The same connection still answers what it can (a greeting needs no retrieval/model).
            if victim != "intent":
                greeting = await ask(ws, "hello", request_id="hi")
                assert greeting[-1]["type"] == "done"
    finally:
        own_cluster.spawn(victim)
        await asyncio.to_thread(own_cluster.wait_serving, victim)
    await asyncio.to_thread(own_cluster.wait_serving, "orchestrator")  # /healthz is 200 again
    async with connect(own_cluster.ws_url) as ws:
        frames = await ask(ws, "おすすめの少年マンガを教えて", request_id="back")
        assert frames[-1]["type"] == "done"


async def test_orchestrator_sigterm_finishes_inflight_answers_and_exits_cleanly(
    own_cluster: Cluster, tmp_path: Path
) -> None:
    async with connect(own_cluster.ws_url) as ws:
        await ws.send(json.dumps({"type": "query", "request_id": "inflight", "text": "Recommend a fantasy manga"}))
        first = json.loads(await ws.recv())
        assert first["type"] == "token"
        own_cluster.procs["orchestrator"].terminate()
        frames = [first, *await collect(ws, "inflight")]
        assert frames[-1]["type"] == "done", frames[-1]
    assert await asyncio.to_thread(own_cluster.procs["orchestrator"].wait, 15) == 0
    own_cluster.spawn("orchestrator")
    await asyncio.to_thread(own_cluster.wait_serving, "orchestrator")
