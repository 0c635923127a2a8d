"""Traces across the mesh: one trace per request through every hop, contract span names,
and no customer text in any attribute."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

from websockets.asyncio.client import connect

from mangaassist.common import spans as s
from mangaassist.devtools.cluster import Cluster
from mangaassist.observability.budgets import records_from_spans
from tests.conftest import ask


def fetch(url: str, since_ns: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}?since_ns={since_ns}", timeout=5) as resp:
        spans: list[dict[str, Any]] = json.loads(resp.read())["spans"]
        return spans


async def test_one_trace_spans_every_service_without_customer_text(cluster: Cluster) -> None:
    marker = "ユニーク検索語xyzzy42"
    since = time.time_ns()
    async with connect(cluster.ws_url) as ws:
        done = (await ask(ws, f"{marker} おすすめのファンタジー漫画", request_id="trace-1", session_id="s-trace"))[-1]
    assert done["type"] == "done"
    spans: list[dict[str, Any]] = []
    for _ in range(50):  # exporters flush every 500 ms in the local cluster
        spans = fetch(cluster.spans_url, since)
        roots = [x for x in spans if x["name"] == s.REQUEST and x["attributes"].get("request_id") == "trace-1"]
        if roots and {x["service"] for x in spans if x["trace_id"] == roots[0]["trace_id"]} >= {
            "orchestrator", "intent", "retrieval", "inference"
        }:
            break
        await asyncio.sleep(0.2)
    trace_id = roots[0]["trace_id"]
    trace = [x for x in spans if x["trace_id"] == trace_id]
    assert {x["service"] for x in trace} >= {"orchestrator", "intent", "retrieval", "inference"}
    names = {x["name"] for x in trace}
    assert {s.REQUEST, s.ORCHESTRATOR, s.INTENT, s.PARALLEL_RETRIEVAL, s.VECTOR_SEARCH,
            s.SESSION_LOAD, s.PROMPT_ASSEMBLY, s.BEDROCK_INVOKE, s.MODEL_INFERENCE} <= names
    # Server spans continue the orchestrator's trace: their parents are spans of this trace.
    ids = {x["span_id"] for x in trace}
    assert all(x["parent_span_id"] in ids for x in trace if x["name"] != s.REQUEST)
    # The orchestrator passed retrieval's query embedding on, and the intent service used it.
    classified = [x for x in trace if x["service"] == "intent" and x["name"] == s.INTENT]
    assert classified and classified[0]["attributes"].get("intent.classifier") == "fusion"
    assert marker not in json.dumps(spans, ensure_ascii=False)
    assert records_from_spans(trace)[0][s.REQUEST] > 0
