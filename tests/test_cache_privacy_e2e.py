"""The shared answer cache never carries one customer's conversation to another: the real
processes, Redis Stack as the cache, and the Bedrock emulator in its TEST-ONLY echo mode,
in which every answer quotes the history it was given (as a real model may repeat an
order it saw). Without that mode nothing through the mesh would show a leak."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from mangaassist.common import spans as s
from mangaassist.common.vocabulary import PRODUCT_INTENTS
from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.pytest_fixtures import start_cluster
from tests.conftest import ask
from tests.test_accounts import ORDER, answer, headers, stored_session

TRACKING = "4821-9932-1076"  # the tracking number of ORDER, in its order-status answer


@pytest.fixture(scope="module")
def echo_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("echo-cluster-logs"), MANGAASSIST_BEDROCK_EMULATOR_ECHO_HISTORY="true")
    yield c
    c.stop()


async def served_from_cache(ws: ClientConnection, text: str, **fields: Any) -> list[dict[str, Any]]:
    """Ask until the answer comes from the cache (entries are written just after `done`)."""
    for n in range(50):
        frames = await ask(ws, text, request_id=f"wait-{n}", **fields)
        if frames[-1].get("cache_hit"):
            return frames
        await asyncio.sleep(0.1)
    raise AssertionError(f"never cached: {text}")


def private(text: str) -> bool:
    return ORDER in text or TRACKING in text


async def test_a_customers_order_never_reaches_another_customer_through_the_cache(echo_cluster: Cluster) -> None:
    sid = "s-echo-a"
    async with connect(echo_cluster.ws_url, additional_headers=headers("cust-0001")) as a:
        order = await ask(a, f"Where is my order {ORDER}?", request_id="a1", session_id=sid)
        assert order[-1]["intent"] == "order_status" and TRACKING in answer(order)
        await stored_session(echo_cluster, sid, 1)
        # The leak condition: an answer built with the conversation quotes A's order.
        product = await ask(a, "Recommend some dark fantasy manga", request_id="a2", session_id=sid)
        assert product[-1]["intent"] in PRODUCT_INTENTS and product[-1]["model"] != "none", product[-1]
        assert private(answer(product)) and product[-1]["cache_hit"] is False
        await stored_session(echo_cluster, sid, 2)
        # A shop question is answered from the shop's documents alone, so it stays shareable.
        policy = await ask(a, "What is your return policy?", request_id="a3", session_id=sid)
        assert policy[-1]["intent"] == "return_refund" and policy[-1]["model"] != "none", policy[-1]
        assert not private(answer(policy)) and policy[-1]["cache_hit"] is False
        await served_from_cache(a, "What is your return policy?", session_id=sid)  # A's entry is in

    async with connect(echo_cluster.ws_url) as b:  # anonymous, a fresh session per question
        shared = await ask(b, "What is your return policy?", request_id="b1")
        assert shared[-1]["cache_hit"] is True and answer(shared) == answer(policy)
        assert not private(answer(shared))
        fresh = await ask(b, "Recommend some dark fantasy manga", request_id="b2")
        assert fresh[-1]["cache_hit"] is False and not private(answer(fresh))  # A's answer was never stored
        await served_from_cache(b, "Recommend some dark fantasy manga")  # B's own, context-free answer is

    # Mid-conversation, the same words mean something else: A is not served B's entry.
    async with connect(echo_cluster.ws_url, additional_headers=headers("cust-0001")) as a:
        again = await ask(a, "Recommend some dark fantasy manga", request_id="a4", session_id=sid)
        assert again[-1]["cache_hit"] is False and private(answer(again))


def fetch_spans(cluster: Cluster, since_ns: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{cluster.spans_url}?since_ns={since_ns}", timeout=5) as resp:
        spans: list[dict[str, Any]] = json.loads(resp.read())["spans"]
        return spans


def orchestrator_log(cluster: Cluster) -> str:
    return Path(cluster.log_dir or "", "orchestrator.log").read_text(errors="replace")


async def test_a_first_turn_answer_is_shared_between_fresh_sessions_and_each_hit_explains_itself(
    echo_cluster: Cluster,
) -> None:
    question = "How much is domestic shipping?"
    async with connect(echo_cluster.ws_url) as ws:
        first = await ask(ws, question, request_id="f1")
        assert first[-1]["intent"] == "shipping_info" and first[-1]["cache_hit"] is False, first[-1]
        assert "cache" not in first[-1]
        await served_from_cache(ws, question)  # each ask is a fresh session
        since = time.time_ns()
        hit = (await ask(ws, question, request_id="f2"))[-1]
    assert hit["cache"] == {"tier": "exact", "similarity": 1.0} and hit["cache_tier"] == "exact", hit

    # Spans and logs name the entry by its id (a hash), never by its text.
    entry_ids: set[str] = set()
    for _ in range(50):  # exporters flush every 500 ms in the local cluster
        spans = fetch_spans(echo_cluster, since)
        roots = [x for x in spans if x["name"] == s.REQUEST and x["attributes"].get("request_id") == hit["request_id"]]
        trace = [x for x in spans if roots and x["trace_id"] == roots[0]["trace_id"]]
        entry_ids = {str(x["attributes"]["cache.entry_id"]) for x in trace if "cache.entry_id" in x["attributes"]}
        if entry_ids:
            break
        await asyncio.sleep(0.2)
    assert len(entry_ids) == 1 and re.fullmatch(r"[0-9a-f]{32}", next(iter(entry_ids))), entry_ids
    assert question.lower() not in json.dumps(trace).lower()
    log = orchestrator_log(echo_cluster)
    served = [json.loads(line) for line in log.splitlines() if '"answered from the cache"' in line]
    assert any(r.get("cache_entry_id") in entry_ids and r.get("cache_tier") == "exact" for r in served)
    assert "domestic shipping" not in log.lower()
