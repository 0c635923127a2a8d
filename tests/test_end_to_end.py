"""The contract over a real WebSocket against the four real services."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from mangaassist.bedrock_emulator.compose import chunk
from mangaassist.common.vocabulary import INTENTS, PRODUCT_INTENTS
from mangaassist.devtools.cluster import Cluster, http_health
from tests.conftest import ask, collect


def assert_well_formed(frames: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    """At least one token, then exactly one terminal `done`, all for this request."""
    assert [f["type"] for f in frames[:-1]] == ["token"] * (len(frames) - 1)
    assert len(frames) >= 2, frames
    done = frames[-1]
    assert done["type"] == "done", done
    assert all(f["request_id"] == request_id for f in frames)
    assert done["intent"] in INTENTS
    assert done["model"] in ("haiku", "sonnet", "none")
    assert {"input_tokens", "output_tokens"} <= set(done["usage"])
    if done["cache_hit"]:  # a repeated question: answered by the semantic cache
        assert {"manga-assist-request", "cache-lookup"} <= set(done["timings_ms"]), done["timings_ms"]
        return done
    for segment in (
        "manga-assist-request",
        "ecs-orchestrator",
        "intent-classification",
        "parallel-data-retrieval",
        "query-embedding",
    ):
        assert segment in done["timings_ms"], segment
    # Only product questions search the catalog — and not when the classifier abstained
    # (route none: the customer gets a clarifying question instead).
    searched = done["intent"] in PRODUCT_INTENTS and done["model"] != "none"
    assert ("vector-search" in done["timings_ms"]) == searched, done["timings_ms"]
    return done


async def test_japanese_recommendation_streams_grounded_answer(ws: ClientConnection) -> None:
    # Worded apart from other tests' questions: a repeat would be served by the semantic cache.
    frames = await ask(ws, "おすすめのダークファンタジーは？騎士が主人公の話", request_id="ja-1", session_id="s-ja")
    done = assert_well_formed(frames, "ja-1")
    assert done["intent"] == "product_recommendation"
    assert done["model"] in ("haiku", "sonnet")
    assert done["backend"] == "bedrock-emulator"
    assert done["session_id"] == "s-ja"
    assert "dynamodb-session-load" in done["timings_ms"]  # a client-named session is read
    assert len(done["products"]) >= 1
    text = "".join(f["text"] for f in frames[:-1])
    # The answer names the products it returned (grounded), in Japanese.
    assert any(p["title"] in text for p in done["products"])
    assert "円" in text
    # Every model token arrives, the first in a frame of its own, the rest coalesced into fewer frames.
    assert done["usage"]["output_tokens"] == len(chunk(text)) >= len(frames) - 1
    assert "bedrock-invoke" in done["timings_ms"] and "response-streaming" in done["timings_ms"]


async def test_english_query_with_filters_returns_only_matching_products(ws: ClientConnection) -> None:
    filters = {"max_price_jpy": 1000, "language": "ja", "in_stock": True, "genre": "sports"}
    frames = await ask(ws, "Recommend a good sports manga about a team", request_id="en-1", filters=filters)
    done = assert_well_formed(frames, "en-1")
    assert done["products"], "some in-stock Japanese sports manga under ¥1,000 exist"
    for p in done["products"]:
        assert p["price_jpy"] <= 1000 and p["language"] == "ja" and p["in_stock"] is True
        assert "sports" in p["genres"]
    assert "¥" in "".join(f["text"] for f in frames[:-1])


async def test_filters_that_match_nothing_say_so(ws: ClientConnection) -> None:
    frames = await ask(ws, "any fantasy manga?", request_id="none-1", filters={"max_price_jpy": 1})
    done = assert_well_formed(frames, "none-1")
    assert done["products"] == []
    assert "couldn't find" in "".join(f["text"] for f in frames[:-1])


async def test_greeting_is_answered_without_a_model(ws: ClientConnection) -> None:
    frames = await ask(ws, "こんにちは！", request_id="g-1")
    done = assert_well_formed(frames, "g-1")
    assert done["intent"] == "greeting" and done["model"] == "none"
    assert done["usage"]["input_tokens"] == done["usage"]["output_tokens"] == 0


async def test_faq_answer_quotes_the_shop_policy(ws: ClientConnection) -> None:
    frames = await ask(ws, "How much is shipping within Japan?", request_id="f-1")
    done = assert_well_formed(frames, "f-1")
    assert done["intent"] == "shipping_info"
    assert "¥3,000" in "".join(f["text"] for f in frames[:-1])


async def test_server_assigns_ids_and_session_carries_across_turns(ws: ClientConnection) -> None:
    await ws.send(json.dumps({"type": "query", "text": "hello"}))
    first = await collect(ws)
    done = first[-1]
    assert done["type"] == "done" and done["request_id"] and done["session_id"]
    second = await ask(ws, "Do you have Haikyu!! in English?", request_id="t-2", session_id=done["session_id"])
    assert second[-1]["session_id"] == done["session_id"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_request"),
        (json.dumps({"type": "query", "request_id": "bad-1"}), "invalid_request"),
        (
            json.dumps({"type": "query", "request_id": "bad-2", "text": "hi", "filters": {"genre": "cats"}}),
            "invalid_request",
        ),
        (json.dumps({"type": "query", "request_id": "bad-3", "text": "x" * 3000}), "too_large"),
        (json.dumps({"type": "query", "request_id": "bad-4", "text": "x" * 20000}), "too_large"),
    ],
)
async def test_bad_frame_gets_an_error_and_the_connection_keeps_working(
    ws: ClientConnection, raw: str, code: str
) -> None:
    await ws.send(raw)
    frames = await collect(ws)
    assert len(frames) == 1
    error = frames[0]
    assert error["type"] == "error" and error["code"] == code and error["retryable"] is False
    assert error["message"] and "Traceback" not in error["message"]
    assert_well_formed(await ask(ws, "One Piece の1巻はありますか", request_id="after"), "after")


async def test_a_bad_frame_does_not_affect_another_connection(cluster: Cluster) -> None:
    async with connect(cluster.ws_url) as bad, connect(cluster.ws_url) as good:
        await good.send(json.dumps({"type": "query", "request_id": "g", "text": "Recommend a romance manga"}))
        await bad.send("\x00garbage")
        await bad.send(b"\x01binary")
        assert [f["code"] for f in [(await collect(bad))[0], (await collect(bad))[0]]] == ["invalid_json"] * 2
        assert_well_formed(await collect(good, "g"), "g")


async def test_concurrent_queries_on_one_connection_are_answered_independently(ws: ClientConnection) -> None:
    texts = {"c1": "おすすめのラブコメ", "c2": "Where is my order 123-4567890-1234567?", "c3": "PayPay使えますか"}
    for rid, text in texts.items():
        await ws.send(json.dumps({"type": "query", "request_id": rid, "text": text}, ensure_ascii=False))
    by_request: dict[str, list[dict[str, Any]]] = {rid: [] for rid in texts}
    async with asyncio.timeout(15):
        while not all(f and f[-1]["type"] in ("done", "error") for f in by_request.values()):
            frame = json.loads(await ws.recv())
            by_request[frame["request_id"]].append(frame)
    for rid, frames in by_request.items():
        assert_well_formed(frames, rid)
    assert by_request["c2"][-1]["intent"] == "order_status"


def test_healthz_reports_every_downstream(cluster: Cluster) -> None:
    status, body = http_health(cluster.health_url)
    assert status == 200
    assert body["downstreams"] == {"intent": "SERVING", "retrieval": "SERVING", "inference": "SERVING"}
