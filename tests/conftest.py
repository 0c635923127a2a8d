"""Helpers for cross-service tests over the real WebSocket (the ``cluster`` fixture itself is shared
by every package: ``mangaassist.devtools.pytest_fixtures``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from mangaassist.devtools.cluster import Cluster


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
