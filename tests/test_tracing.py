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
        if roots:
            # Four processes export on their own schedules, and a parent ends (and is exported)
            # after its children: wait until the trace is whole, not only present.
            whole = [x for x in spans if x["trace_id"] == roots[0]["trace_id"]]
            present = {x["span_id"] for x in whole}
            if {x["service"] for x in whole} >= {"orchestrator", "intent", "retrieval", "inference"} and all(
                x["parent_span_id"] in present for x in whole if x["name"] != s.REQUEST
            ):
                break
        await asyncio.sleep(0.2)
    trace_id = roots[0]["trace_id"]
    trace = [x for x in spans if x["trace_id"] == trace_id]
    assert {x["service"] for x in trace} >= {"orchestrator", "intent", "retrieval", "inference"}
    names = {x["name"] for x in trace}
    assert {
        s.REQUEST,
        s.ORCHESTRATOR,
        s.INTENT,
        s.PARALLEL_RETRIEVAL,
        s.VECTOR_SEARCH,
        s.SESSION_LOAD,
        s.PROMPT_ASSEMBLY,
        s.BEDROCK_INVOKE,
        s.MODEL_INFERENCE,
    } <= names
    # Server spans continue the orchestrator's trace: their parents are spans of this trace.
    ids = {x["span_id"] for x in trace}
    assert all(x["parent_span_id"] in ids for x in trace if x["name"] != s.REQUEST)
    # The orchestrator passed retrieval's query embedding on, and the intent service used it.
    classified = [x for x in trace if x["service"] == "intent" and x["name"] == s.INTENT]
    assert classified and classified[0]["attributes"].get("intent.classifier") == "fusion"
    assert marker not in json.dumps(spans, ensure_ascii=False)
    assert records_from_spans(trace)[0][s.REQUEST] > 0
    assert_service_map_chain(trace)


SERVICES = {
    "intent": "mangaassist.intent.v1.IntentService",
    "retrieval": "mangaassist.retrieval.v1.RetrievalService",
    "inference": "mangaassist.inference.v1.InferenceService",
}


def assert_service_map_chain(trace: list[dict[str, Any]]) -> None:
    """The chain X-Ray's service map is drawn from: the orchestrator's root (SERVER) › … ›
    a CLIENT span per call › the callee's SERVER span (its contract name), in all four
    services, with rpc.* on both ends; the model call is a CLIENT span with GenAI
    attributes, and so is each DynamoDB and cache (Redis) call."""
    by_id = {x["span_id"]: x for x in trace}
    root = next(x for x in trace if x["name"] == s.REQUEST)
    assert root["service"] == "orchestrator" and root["kind"] == "SERVER"

    def ancestors(span: dict[str, Any]) -> list[dict[str, Any]]:
        chain = []
        while span["parent_span_id"] in by_id:
            span = by_id[span["parent_span_id"]]
            chain.append(span)
        return chain

    for service, rpc_service in SERVICES.items():
        servers = [x for x in trace if x["service"] == service and x["kind"] == "SERVER"]
        assert servers, f"{service}: no SERVER span"
        for server in servers:
            assert server["attributes"]["rpc.system"] == "grpc"
            assert server["attributes"]["rpc.service"] == rpc_service
            client = by_id[server["parent_span_id"]]
            assert (client["service"], client["kind"]) == ("orchestrator", "CLIENT"), client
            assert client["name"] == f"{rpc_service}/{server['attributes']['rpc.method']}"
            assert client["attributes"]["rpc.service"] == rpc_service
            assert root in ancestors(client)
    model = [x for x in trace if x["service"] == "inference" and x["kind"] == "CLIENT"]
    assert model and all(x["name"].startswith("chat ") for x in model)
    attributes = model[0]["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.request.model"]
    assert attributes["gen_ai.usage.output_tokens"] > 0 and attributes["gen_ai.response.finish_reasons"]
    assert by_id[model[0]["parent_span_id"]]["kind"] == "SERVER"
    # DynamoDB (sessions) is a node too: CLIENT spans from the orchestrator's aiobotocore client.
    dynamo = [x for x in trace if x["kind"] == "CLIENT" and x["attributes"].get("rpc.service") == "DynamoDB"]
    assert dynamo and all(x["service"] == "orchestrator" and x["attributes"]["rpc.system"] == "aws-api" for x in dynamo)
    # And the cache: opentelemetry-instrumentation-redis's CLIENT spans under the cache segments.
    redis = [x for x in trace if x["kind"] == "CLIENT" and x["attributes"].get("db.system") == "redis"]
    assert redis and {by_id[x["parent_span_id"]]["name"] for x in redis} <= {s.CACHE_LOOKUP, s.CACHE_WRITE}
