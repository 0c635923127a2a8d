"""Fixtures for cross-service tests: real processes, real sockets, ephemeral ports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from mangaassist.devtools.cluster import Cluster

REPO = Path(__file__).resolve().parents[1]
# Passage embeddings are cached by content hash; sharing the cache across runs only
# saves time, it cannot change a result.
CACHE_ENV = {"MANGAASSIST_RETRIEVAL_INDEX_DIR": str(REPO / ".cache" / "index")}


def start_cluster(log_dir: Path, **env: str) -> Cluster:
    base = {**CACHE_ENV, "MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE": "zero",
            "MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS": "1"}
    return Cluster(env={**base, **env}, log_dir=log_dir).start()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One healthy cluster shared by the read-only end-to-end tests."""
    c = start_cluster(tmp_path_factory.mktemp("cluster-logs"))
    yield c
    c.stop()


@pytest.fixture
async def ws(cluster: Cluster) -> AsyncIterator[ClientConnection]:
    async with connect(cluster.ws_url, compression=None) as conn:
        yield conn


async def collect(conn: ClientConnection, request_id: str | None = None, timeout_s: float = 15) -> list[dict[str, Any]]:
    """Frames for one request up to and including its terminal frame."""

    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while True:
            frame = json.loads(await conn.recv())
            if request_id is not None and frame.get("request_id") != request_id:
                continue
            frames.append(frame)
            if frame["type"] in ("done", "error"):
                return frames


async def ask(conn: ClientConnection, text: str, **fields: Any) -> list[dict[str, Any]]:
    frame = {"type": "query", "text": text, **fields}
    await conn.send(json.dumps(frame, ensure_ascii=False))
    return await collect(conn, fields.get("request_id"))
