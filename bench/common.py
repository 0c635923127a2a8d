"""Helpers shared by the benchmarks: percentiles and one timed WebSocket question (two shapes:
``timed`` for a latency, ``ask`` for the record a load run aggregates)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from mangaassist.common.spans import MODEL_INFERENCE

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
QUERY_TIMEOUT_S = 30.0  # one question of a load run, from send to its terminal frame


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


async def ask(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    """Send one query; the record of its outcome as the client saw it."""
    request_id = frame["request_id"]
    sent = time.perf_counter()
    first: float | None = None
    token_frames = 0
    try:
        async with asyncio.timeout(QUERY_TIMEOUT_S):
            await ws.send(orjson.dumps(frame).decode())
            while True:
                reply = orjson.loads(await ws.recv())
                if reply.get("request_id") != request_id:
                    continue
                if reply["type"] == "token":
                    token_frames += 1
                    first = first or time.perf_counter()
                elif reply["type"] in ("done", "error"):
                    break
    except TimeoutError:
        return {"ok": False, "error": "client:timeout", "gone": False}
    except (WebSocketException, OSError) as exc:
        return {"ok": False, "error": f"client:{type(exc).__name__}", "gone": True}
    end = time.perf_counter()
    if reply["type"] == "error":
        # The server's own words for people (never the customer's text): which guard refused.
        return {"ok": False, "error": f"{reply.get('code', 'unknown')}: {reply.get('message', '')}", "gone": False}
    ttft = ((first or end) - sent) * 1000
    timings = reply.get("timings_ms", {})
    return {
        "ok": True,
        "e2e": (end - sent) * 1000,
        "ttft": ttft,
        "overhead": ttft - float(timings.get(MODEL_INFERENCE, 0.0)),
        "cache_hit": bool(reply.get("cache_hit")),
        "session_id": reply.get("session_id"),
        "model": reply.get("model"),
        "timings": timings,
        "token_frames": token_frames,
    }


def whole_number_options(description: str | None = None, **defaults: int) -> argparse.Namespace:
    """A benchmark's command line when every option is a count: ``--name N`` for each of
    ``defaults`` (underscores written as dashes), defaulting to its value."""
    parser = argparse.ArgumentParser(description=description)
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    return parser.parse_args()


def stamp(benchmark: str) -> dict[str, Any]:
    """The head of a result file: which benchmark, when (UTC), at which commit, on what machine
    and under what load (the box is shared)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    return {
        "benchmark": benchmark,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit.stdout.strip(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
    }


def save_result(report: Mapping[str, Any], path: Path | None = None) -> Path:
    """Write ``report`` as pretty JSON (``bench/results/<benchmark>.json`` unless ``path``) and say where."""
    path = path or RESULTS / f"{report['benchmark']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"results written to {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path


def cluster_env(**overrides: str) -> dict[str, str]:
    """Settings for a benchmark's local cluster: the shared index cache (or
    ``$MANGAASSIST_RETRIEVAL_INDEX_DIR``), warnings-only logs from every process, then ``overrides``."""
    env = {
        "MANGAASSIST_RETRIEVAL_INDEX_DIR": os.environ.get(
            "MANGAASSIST_RETRIEVAL_INDEX_DIR", str(REPO / ".cache" / "index")
        )
    }
    for svc in ("INTENT", "RETRIEVAL", "INFERENCE", "ORCHESTRATOR", "BEDROCK_EMULATOR"):
        env[f"MANGAASSIST_{svc}_LOG_LEVEL"] = "WARNING"
    return {**env, **overrides}
