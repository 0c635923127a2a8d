"""Slowdown drills on a real running mesh: inject a delay into one segment, drive traffic,
read the traces back through the detector's own trace source, and ask who is to blame.

Injection points (all off unless a drill turns them on):

- ``intent-classification``: the intent service restarted with
  ``MANGAASSIST_INTENT_FAULT_DELAY_MS`` (limited to that segment by ``FAULT_SEGMENTS``);
- ``query-embedding`` / ``vector-search``: the retrieval service likewise, delaying only
  the ``Embed`` or only the ``Search`` RPC;
- ``model-inference``: the Bedrock emulator's ``slow-first-token`` fault rule, set at run
  time through its control API (no restart).

Used by ``bench/detector_mesh.py`` and ``tests/test_detector_mesh.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

from websockets.asyncio.client import connect

from mangaassist.common import spans as s
from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.emulator import set_faults
from mangaassist.observability.budgets import Record
from mangaassist.observability.detector import ReceiverSource

# Product questions: every one goes the whole path (classify, embed, search, model).
QUESTIONS = [
    "おすすめのダークファンタジーは？",
    "Recommend a sports manga for a 12 year old",
    "料理マンガでおすすめは？",
    "Something like Monster but cheaper",
    "おすすめの恋愛マンガは？",
    "Recommend an isekai manga",
    "おすすめのホラー漫画は？",
    "A mystery manga for adults",
    "おすすめのスポーツ漫画を教えて",
    "Horror manga recommendations",
    "歴史もののマンガでおすすめ",
    "Best slice of life manga",
]
SERVICE_OF = {s.INTENT: "intent", s.QUERY_EMBEDDING: "retrieval", s.VECTOR_SEARCH: "retrieval"}
TARGETS = (s.INTENT, s.QUERY_EMBEDDING, s.VECTOR_SEARCH, s.MODEL_INFERENCE)
# Settings for a drill cluster: the semantic cache off (every question takes the full
# path) and a fast model stand-in, so a window of traffic takes seconds.
DRILL_ENV = {
    "MANGAASSIST_ORCHESTRATOR_CACHE_ENABLED": "false",
    "MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE": "zero",
    "MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS": "0",
}


async def drive(cluster: Cluster, n: int, concurrency: int = 2, tag: str = "d") -> int:
    """Ask ``n`` product questions over ``concurrency`` connections; how many were answered."""
    counter = iter(range(n))
    answered = 0

    async def worker() -> None:
        nonlocal answered
        async with connect(cluster.ws_url, compression=None) as ws:
            for i in counter:
                request_id = f"{tag}-{i}"
                text = QUESTIONS[i % len(QUESTIONS)]
                await ws.send(json.dumps({"type": "query", "request_id": request_id, "text": text}, ensure_ascii=False))
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("request_id") == request_id and frame["type"] in ("done", "error"):
                        answered += frame["type"] == "done"
                        break

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answered


async def window(cluster: Cluster, n: int, concurrency: int = 2, tag: str = "w") -> list[Record]:
    """Traffic for one detection window, then that window's request records as the
    detector reads them (from the local trace receiver)."""
    source = ReceiverSource(cluster.spans_url)
    start = time.time()
    answered = await drive(cluster, n, concurrency, tag)
    records: list[Record] = []
    for _ in range(60):  # exporters flush every 500 ms in the local cluster
        records = await source.fetch(start, time.time())
        # Every answer's orchestrator span and the inference service's span inside it: the
        # two processes export apart, and a window read before the slower one flushed would
        # hide the model's segment from the detector.
        if len(records) >= answered and all(s.BEDROCK_INVOKE in r and s.MODEL_INFERENCE in r for r in records):
            break
        await asyncio.sleep(0.25)
    return records


def _restart(cluster: Cluster, service: str, env: dict[str, str] | None = None) -> None:
    cluster.terminate(service)
    cluster.spawn(service, env)
    cluster.wait_serving(service, timeout=120)


async def inject(cluster: Cluster, segment: str, delay_ms: float) -> None:
    """Make ``segment`` slower by ``delay_ms`` per request (until ``clear``)."""
    if segment == s.MODEL_INFERENCE:
        set_faults(cluster.url("bedrock_emulator"), {"model": "*", "fault": f"slow-first-token={delay_ms:.1f}"})
        return
    service = SERVICE_OF[segment]
    prefix = f"MANGAASSIST_{service.upper()}_"
    _restart(
        cluster,
        service,
        {prefix + "FAULT_DELAY_MS": f"{delay_ms:.1f}", prefix + "FAULT_SEGMENTS": json.dumps([segment])},
    )
    await drive(cluster, len(QUESTIONS), 2, "warm")  # reconnect the channel, refill the result cache


async def clear(cluster: Cluster, segment: str) -> None:
    if segment == s.MODEL_INFERENCE:
        set_faults(cluster.url("bedrock_emulator"))
        return
    _restart(cluster, SERVICE_OF[segment])
    await drive(cluster, len(QUESTIONS), 2, "warm")


def p50(records: Sequence[Record], segment: str) -> float:
    values = sorted(r[segment] for r in records if segment in r)
    return values[len(values) // 2] if values else 0.0
