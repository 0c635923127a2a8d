"""The semantic cache through the real WebSocket, with Redis Stack as the cache server."""

from __future__ import annotations

import asyncio
import time

import grpc
from websockets.asyncio.client import ClientConnection

from mangaassist.devtools.cluster import Cluster
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from tests.conftest import ask


async def cached(ws: ClientConnection, text: str) -> None:
    """Wait until ``text`` is served from the cache: entries are written once the output
    guardrail has cleared the answer, just after its `done`."""
    for n in range(50):
        if (await ask(ws, text, request_id=f"wait-{n}"))[-1].get("cache_hit"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never cached: {text}")


async def test_a_repeated_question_is_answered_from_the_cache_at_once(ws: ClientConnection) -> None:
    first = await ask(ws, "Do you sell Chainsaw Man volume 1?", request_id="c1")
    assert first[-1]["type"] == "done" and first[-1]["cache_hit"] is False
    answer = "".join(f["text"] for f in first[:-1])
    await cached(ws, "Do you sell Chainsaw Man volume 1?")
    for n in range(3):  # includes hits that win the race against the session load
        started = time.monotonic()
        again = await ask(ws, "Do you sell Chainsaw Man volume 1?", request_id=f"c1-{n}")
        done = again[-1]
        assert done["type"] == "done" and done["cache_hit"] is True and done["cache_tier"] == "exact", done
        assert done["cache"] == {"tier": "exact", "similarity": 1.0}
        assert "".join(f["text"] for f in again[:-1]) == answer
        assert done["products"] == first[-1]["products"]
        assert time.monotonic() - started < 2.0


async def test_a_paraphrase_hits_and_a_negation_does_not(ws: ClientConnection) -> None:
    assert (await ask(ws, "Recommend some dark fantasy manga", request_id="s1"))[-1]["cache_hit"] is False
    await cached(ws, "Recommend some dark fantasy manga")
    paraphrase = (await ask(ws, "Can you recommend dark fantasy manga?", request_id="s2"))[-1]
    assert paraphrase["cache_hit"] is True and paraphrase["cache_tier"] == "semantic", paraphrase
    assert paraphrase["cache"]["tier"] == "semantic" and 0.9 <= paraphrase["cache"]["similarity"] < 1.0
    negated = (await ask(ws, "Recommend some manga that is not dark fantasy", request_id="s3"))[-1]
    assert negated["type"] == "done" and negated["cache_hit"] is False


async def test_personal_answers_are_never_cached(ws: ClientConnection) -> None:
    for n in range(2):
        done = (await ask(ws, "Where is my order 123-4567890-1234567?", request_id=f"o{n}"))[-1]
        assert done["intent"] == "order_status" and done["cache_hit"] is False


async def test_a_stock_change_drops_cached_answers_about_that_product(ws: ClientConnection, cluster: Cluster) -> None:
    question = "Is Spy x Family volume 2 in stock?"
    first = (await ask(ws, question, request_id="st1"))[-1]
    assert first["type"] == "done" and first["products"], first
    await cached(ws, question)
    asin = first["products"][0]["asin"]
    async with grpc.aio.insecure_channel(cluster.address("retrieval")) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        await stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=0), timeout=10)
        try:
            for n in range(50):  # the orchestrator hears of the change within milliseconds
                done = (await ask(ws, question, request_id=f"st-after-{n}"))[-1]
                if not done["cache_hit"]:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the cached answer outlived the stock change")
        finally:
            await stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=7), timeout=10)


async def test_a_shop_answer_cached_mid_conversation_carries_nothing_of_that_conversation(ws: ClientConnection) -> None:
    question = "What payment methods do you take?"
    kingdom = await ask(ws, "Do you have Kingdom?", request_id="k1")
    sid = kingdom[-1]["session_id"]
    assert kingdom[-1]["state"]["focus"]["series_id"] == "kingdom", kingdom[-1]
    paid = await ask(ws, question, request_id="k2", session_id=sid)
    assert paid[-1]["intent"] == "payment" and paid[-1]["cache_hit"] is False
    await cached(ws, question)  # fresh sessions, served the entry that conversation wrote

    # Another conversation served that entry starts from nothing: Kingdom is not its focus.
    first = await ask(ws, question, request_id="n1")
    assert first[-1]["cache_hit"] is True and "state" not in first[-1], first[-1]
    volumes = await ask(ws, "how many volumes are out?", request_id="n2", session_id=first[-1]["session_id"])
    assert "kingdom" not in {p["series_id"] for p in volumes[-1]["products"]}, volumes[-1]

    # In the first conversation the same words are its shop question again (served from the
    # cache once the turn is read as one), and its own focus holds after it.
    again = await ask(ws, question, request_id="k3", session_id=sid)
    assert again[-1]["cache_hit"] is True and again[-1]["intent"] == "payment"
    mine = await ask(ws, "how many volumes are out?", request_id="k4", session_id=sid)
    assert mine[-1]["products"][0]["series_id"] == "kingdom", mine[-1]
