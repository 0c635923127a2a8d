"""Inference faults seen by a WebSocket client: honest streams, recorded fallbacks, guardrail frames.

Every question here is asked only once in the suite (a repeat would be a cache hit).
Runs on the shared cluster; each test sets the Bedrock emulator's fault rules over its
control endpoint and clears them afterwards.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection

from mangaassist.bedrock_emulator.compose import chunk
from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.emulator import set_faults, stats
from tests.conftest import ask


@pytest.fixture
async def faults(cluster: Cluster) -> AsyncIterator[str]:
    url = cluster.url("bedrock_emulator")
    yield url
    set_faults(url)


async def test_a_stream_cut_after_tokens_is_resumed_once_then_ends_with_stream_interrupted(
    ws: ClientConnection, faults: str
) -> None:
    set_faults(faults, {"model": "*", "fault": "cut-after=4"})
    frames = await ask(ws, "おすすめのダークファンタジーは？ 魔法学校もの", request_id="cut")
    # The four deltas sent before the cut arrive, then the four the resumed stream sent before
    # it was cut too (each first delta alone, the rest maybe coalesced); a second break is final.
    assert {f["type"] for f in frames[:-1]} == {"token"} and 2 <= len(frames) - 1 <= 8
    assert len(chunk("".join(f["text"] for f in frames[:-1]))) == 8
    assert frames[-1]["code"] == "stream_interrupted"


async def test_a_stream_cut_once_is_finished_from_where_it_broke(ws: ClientConnection, faults: str) -> None:
    set_faults(faults, {"model": "*", "fault": "cut-after=5", "count": 1})
    frames = await ask(ws, "Recommend a dark fantasy manga about a mercenary", request_id="cut-once")
    done = frames[-1]
    assert done["type"] == "done" and done["resumed"] is True, done
    text = "".join(f["text"] for f in frames[:-1])
    # The emulator's answer to a product question, whole: its opening once and its closing line.
    assert text.count("Here are some picks") == 1 and text.endswith(
        "Ask me about any of these for volumes, editions or stock."
    )


async def test_sonnet_throttled_is_answered_by_haiku_and_recorded(ws: ClientConnection, faults: str) -> None:
    set_faults(faults, {"model": "sonnet", "fault": "throttle"})
    frames = await ask(ws, "鬼滅の刃と呪術廻戦ならどっちがおすすめ？", request_id="fb")
    done = frames[-1]
    assert done["type"] == "done", frames[-1]
    assert done["route_reason"] and done["model"] == "haiku"
    assert done["fallback"] == {"from": "sonnet", "to": "haiku", "reason": "throttled"}
    assert done["usage"]["cost_usd"] > 0


async def test_flagged_answer_is_followed_by_a_guardrail_frame(ws: ClientConnection, faults: str) -> None:
    set_faults(faults, {"model": "*", "fault": "pii-leak"})
    frames = await ask(ws, "Recommend a fantasy manga with dragons", request_id="leak")
    assert frames[-1]["type"] == "done" and frames[-1]["fallback"] is None
    async with asyncio.timeout(5):
        verdict = json.loads(await ws.recv())
    assert verdict["type"] == "guardrail" and verdict["request_id"] == "leak"
    assert verdict["action"] == "flagged" and "pii:email" in verdict["categories"]


async def test_clean_answers_get_no_guardrail_frame_and_reuse_connections(ws: ClientConnection, faults: str) -> None:
    before = stats(faults)
    # Distinct questions: a repeat would be answered by the semantic cache, not the model.
    for i, topic in enumerate(["elves", "pirates", "wizards", "knights", "ghosts"]):
        frames = await ask(ws, f"Recommend a fantasy manga with {topic}", request_id=f"ok{i}")
        assert frames[-1]["type"] == "done"
        assert frames[-1]["backend"] == "bedrock-emulator"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await ws.recv()
    after = stats(faults)
    assert after["by_operation"]["ConverseStream"] - before["by_operation"].get("ConverseStream", 0) == 5
    # Five streams one after another ride the kept-alive connections already open (0 new ones
    # when run alone). The count is the cluster's total, so compare with before: allow a few to
    # replace connections an earlier test's cut streams closed. Without reuse this would be 5.
    assert after["connections"] - before["connections"] <= 3


async def test_a_flagged_answer_is_never_served_from_the_cache(ws: ClientConnection, faults: str) -> None:
    question = "Recommend a fantasy manga with unicorns"
    set_faults(faults, {"model": "*", "fault": "pii-leak"})
    await ask(ws, question, request_id="flag-1")
    async with asyncio.timeout(5):
        assert json.loads(await ws.recv())["type"] == "guardrail"
    set_faults(faults)
    await asyncio.sleep(0.3)  # the after-answer work has run by now
    again = (await ask(ws, question, request_id="flag-2"))[-1]
    assert again["type"] == "done" and again["cache_hit"] is False
    for n in range(50):  # the clean answer is cached once its verdict is in
        if (await ask(ws, question, request_id=f"flag-3-{n}"))[-1]["cache_hit"]:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the clean answer was never cached")
