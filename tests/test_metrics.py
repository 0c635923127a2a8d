"""OTel metrics across the mesh: a real request produces the per-segment latency histogram
and the request counters at the local receiver, without customer text."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import connect

from mangaassist.common import spans as s
from mangaassist.common.metrics import REQUESTS, RPC_REQUESTS, SEGMENT_DURATION
from mangaassist.devtools.cluster import Cluster
from tests.conftest import ask


def fetch(url: str, since_ns: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}?since_ns={since_ns}", timeout=5) as resp:
        points: list[dict[str, Any]] = json.loads(resp.read())["points"]
        return points


def latest(points: list[dict[str, Any]], name: str, service: str, **attrs: Any) -> dict[str, Any] | None:
    found = [
        p
        for p in points
        if p["name"] == name and p["service"] == service and all(p["attributes"].get(k) == v for k, v in attrs.items())
    ]
    return max(found, key=lambda p: p["time_ns"]) if found else None


async def test_request_yields_segment_histograms_and_counters(cluster: Cluster) -> None:
    marker = "メトリクス確認語qwerty77"
    since = time.time_ns()
    async with connect(cluster.ws_url) as ws:
        done = (await ask(ws, f"{marker} おすすめのファンタジー漫画", request_id="metrics-1"))[-1]
    assert done["type"] == "done"
    wanted = {
        "histogram": (SEGMENT_DURATION, "orchestrator", {"segment": s.REQUEST}),
        "counter": (
            REQUESTS,
            "orchestrator",
            {"intent": done["intent"], "outcome": "ok", "cache_hit": done["cache_hit"]},
        ),
        "intent rpc": (RPC_REQUESTS, "intent", {"segment": s.INTENT, "outcome": "OK"}),
        "retrieval histogram": (SEGMENT_DURATION, "retrieval", {"segment": s.VECTOR_SEARCH}),
    }
    points: list[dict[str, Any]] = []
    for _ in range(50):  # every process exports once a second in the local cluster
        points = fetch(cluster.metrics_url, since)
        if all(latest(points, n, svc, **a) for n, svc, a in wanted.values()):
            break
        await asyncio.sleep(0.2)
    got = {k: latest(points, n, svc, **a) for k, (n, svc, a) in wanted.items()}
    assert all(got.values()), {k: v is not None for k, v in got.items()}

    hist = got["histogram"]
    assert hist is not None and hist["type"] == "histogram" and hist["unit"] == "ms"
    assert hist["count"] >= 1 and hist["sum"] > 0 and sum(hist["bucket_counts"]) == hist["count"]
    assert 0.5 in hist["bounds"] and 30000 in hist["bounds"]
    counter = got["counter"]
    assert counter is not None and counter["type"] == "sum" and counter["monotonic"] and counter["value"] >= 1
    assert set(counter["attributes"]) == {"intent", "model", "cache_hit", "outcome"}
    # Only contract segment names, and never the customer's words.
    segments = {p["attributes"]["segment"] for p in points if p["name"] == SEGMENT_DURATION}
    assert segments <= {v for k, v in vars(s).items() if k.isupper()}
    assert marker not in json.dumps(points, ensure_ascii=False)


def test_receiver_rejects_a_bad_query(cluster: Cluster) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{cluster.metrics_url}?since_ns=yesterday", timeout=5)
    assert err.value.code == 400
