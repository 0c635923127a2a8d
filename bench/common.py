"""Helpers shared by the benchmarks: percentiles and one timed WebSocket question."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile, NaN for no samples."""
    return float(np.percentile(values, q)) if values else float("nan")


async def timed(ws: ClientConnection, text: str, request_id: str) -> tuple[float, dict[str, Any]]:
    """Ask one question; milliseconds until its terminal frame, and that frame."""
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "query", "request_id": request_id, "text": text}, ensure_ascii=False))
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("request_id") == request_id and frame["type"] in ("done", "error"):
            return (time.perf_counter() - started) * 1000, frame
