"""``make up REPLICAS=2`` on real processes: replicas that agree, and answers while one dies.

Two processes of each gRPC service under the same ``Supervisor`` that ``make up`` runs (on a
thread here). A stock change made on either retrieval replica is read back through both (and
drops the orchestrator's cached answer about it), a restarted replica catches up with the
changes made while it was down, and killing one replica of each service while customers ask
loses no question: the other replica serves and the killed one is restarted; an answer the
killed inference replica was streaming is continued by the other one from the text already
on the customer's screen.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from websockets.asyncio.client import connect

from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.emulator import set_faults, stats
from mangaassist.devtools.pytest_fixtures import start_cluster, supervising
from mangaassist.devtools.replicas import ask_while_killing, search, streaming_replica, update_stock, wait_until
from mangaassist.devtools.supervisor import Supervisor
from tests.conftest import ask


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Supervisor]]:
    cluster = start_cluster(tmp_path_factory.mktemp("replica-logs"), replicas=2)
    with supervising(cluster) as supervisor:
        yield cluster, supervisor
    cluster.stop()


async def until(check: Any, what: str, timeout_s: float = 10.0) -> None:
    """Poll ``check()`` (blocking, run on a thread) until it is true; a generous bound, not a goal
    (bench/replica_drill.py measures how long it takes)."""
    assert await asyncio.to_thread(wait_until, check, timeout_s, 0.02) is not None, what


def in_stock_on(cluster: Cluster, name: str, asin: str, query: str) -> bool | None:
    return search(cluster.address(name), query).get(asin)


async def test_a_stock_change_on_either_replica_reaches_both_and_the_orchestrators_cache(
    replicated: tuple[Cluster, Supervisor],
) -> None:
    cluster, _ = replicated
    replicas = cluster.replica_names("retrieval")
    assert replicas == ["retrieval", "retrieval-2"]
    query = "Blue Lock volume 20"
    asin = next(iter(search(cluster.address("retrieval"), query)))
    async with connect(cluster.ws_url) as ws:
        try:
            for n, origin in enumerate(replicas):
                # An answer about the volume is cached first...
                first = (await ask(ws, "Blue Lock volume 20 in English?", request_id=f"c-{n}"))[-1]
                assert first["type"] == "done" and first["products"], first
                for attempt in range(50):
                    hit = (await ask(ws, "Blue Lock volume 20 in English?", request_id=f"h-{n}-{attempt}"))[-1]
                    if hit.get("cache_hit"):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the answer was never cached")
                # ...then its stock changes on one replica: both replicas answer with the new stock.
                count = 0 if n == 0 else 9
                await asyncio.to_thread(update_stock, cluster.address(origin), asin, count)
                for name in replicas:
                    await until(
                        lambda name=name, count=count: in_stock_on(cluster, name, asin, query) is (count > 0),
                        f"{name} did not see the stock change made on {origin}",
                    )
                stocked = await asyncio.to_thread(search, cluster.address(replicas[1 - n]), query, True)
                assert (asin in stocked) is (count > 0)
                # The orchestrator follows one replica's feed; a change made on either drops its cached answer.
                for attempt in range(50):
                    again = (await ask(ws, "Blue Lock volume 20 in English?", request_id=f"a-{n}-{attempt}"))[-1]
                    if not again.get("cache_hit"):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"the cached answer outlived the stock change made on {origin}")
        finally:
            await asyncio.to_thread(update_stock, cluster.address("retrieval"), asin, 7)


async def test_a_restarted_replica_catches_up_with_the_changes_made_while_it_was_down(
    replicated: tuple[Cluster, Supervisor],
) -> None:
    cluster, supervisor = replicated
    query = "One Piece volume 100"
    asin, was = next(iter(search(cluster.address("retrieval"), query).items()))
    victim = cluster.procs["retrieval-2"]
    restarts = supervisor.parts["retrieval-2"].restarts
    try:
        await asyncio.to_thread(update_stock, cluster.address("retrieval"), asin, 0 if was else 3)
        await until(lambda: in_stock_on(cluster, "retrieval-2", asin, query) is (not was), "no change on retrieval-2")
        os.kill(victim.pid, signal.SIGKILL)
        # While it is down the stock changes again, on the surviving replica only.
        await asyncio.to_thread(update_stock, cluster.address("retrieval"), asin, 5 if was else 0)
        await until(
            lambda: supervisor.parts["retrieval-2"].restarts > restarts and cluster.is_serving("retrieval-2"),
            "retrieval-2 was not restarted",
            120,
        )
        assert cluster.procs["retrieval-2"].pid != victim.pid
        # It reloaded the catalog from disk, then caught up from its peer before serving.
        assert in_stock_on(cluster, "retrieval-2", asin, query) is was
    finally:
        await asyncio.to_thread(update_stock, cluster.address("retrieval"), asin, 4 if was else 0)


async def test_an_answer_whose_inference_replica_is_killed_mid_stream_is_finished_by_the_other(
    replicated: tuple[Cluster, Supervisor],
) -> None:
    """SIGKILL to the inference replica while it streams an answer: the customer's text, start
    and continuation, is exactly the complete answer (nothing repeated or lost), then ``done``."""
    cluster, supervisor = replicated
    emulator = cluster.url("bedrock_emulator")
    question = "おすすめのスポーツマンガを教えて"
    async with connect(cluster.ws_url) as ws:
        reference = await ask(ws, question, request_id="whole")
        assert reference[-1]["type"] == "done" and not reference[-1].get("cache_hit"), reference[-1]
        whole = "".join(f["text"] for f in reference if f["type"] == "token")
        # Once the answer is cached (written after its done frame), forget it, so the same
        # question goes to the model again.
        for attempt in range(50):
            if (await ask(ws, question, request_id=f"cached-{attempt}"))[-1].get("cache_hit"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the answer was never cached")
        client = redis.Redis.from_url(f"redis://{cluster.address('redis')}/0")
        try:
            for key in client.scan_iter(match="mangaassist:cache:e:*"):
                client.delete(key)
        finally:
            client.close()
        # This answer streams slowly (40 ms between deltas), so it is in flight when its replica dies.
        slow = {"fault": "token-gap=40", "count": 1}
        set_faults(emulator, {"model": "haiku", **slow}, {"model": "sonnet", **slow})
        try:
            await ws.send(json.dumps({"type": "query", "request_id": "cut", "text": question}, ensure_ascii=False))
            frames = [json.loads(await asyncio.wait_for(ws.recv(), 30))]
            assert frames[0]["type"] == "token", frames[0]
            found = await asyncio.to_thread(
                wait_until, lambda: streaming_replica(cluster, stats(emulator)) is not None, 10, 0.01
            )
            assert found is not None, "no inference replica was streaming the answer"
            victim = streaming_replica(cluster, stats(emulator)) or ""
            restarts = supervisor.parts[victim].restarts
            os.kill(cluster.procs[victim].pid, signal.SIGKILL)
            while frames[-1]["type"] == "token":
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        finally:
            set_faults(emulator)
        done = frames[-1]
        assert done["type"] == "done", done
        assert done.get("resumed") is True and not done["cache_hit"] and not done.get("fallbacks"), done
        assert "".join(f["text"] for f in frames if f["type"] == "token") == whole
    await until(
        lambda: supervisor.parts[victim].restarts > restarts and cluster.is_serving(victim),
        f"{victim} was not restarted",
        120,
    )


# A task that ECS stops (a deployment, scale-in) or that the supervisor is asked to stop gets
# SIGTERM: it reports NOT_SERVING, the orchestrator's channels take it out of the rotation,
# and what it has in flight finishes.
async def test_every_question_is_answered_while_one_replica_of_each_service_is_stopped(
    replicated: tuple[Cluster, Supervisor],
) -> None:
    cluster, supervisor = replicated
    drill = await ask_while_killing(cluster, supervisor, ["intent", "retrieval-2", "inference"], signal.SIGTERM)
    assert len(drill.outcomes) > 20, len(drill.outcomes)
    assert len(drill.answered) == len(drill.outcomes), (drill.errors, drill.outcomes[:3])


# A replica that crashes (kill -9) loses what it had in flight. Questions waiting on a killed
# intent or retrieval replica are retried on the other one; an answer the killed inference
# replica was streaming is continued by the other one from the text already sent.
async def test_questions_are_answered_by_the_other_replica_when_one_of_each_crashes(
    replicated: tuple[Cluster, Supervisor],
) -> None:
    cluster, supervisor = replicated
    customers = 4
    drill = await ask_while_killing(
        cluster, supervisor, ["intent-2", "retrieval", "inference-2"], signal.SIGKILL, customers=customers
    )
    assert len(drill.outcomes) > 20, len(drill.outcomes)
    assert not drill.errors, [o for o in drill.outcomes if o["type"] != "done"]
    unanswered = [o for o in drill.outcomes if o not in drill.answered and o["type"] == "done"]
    assert not unanswered, unanswered[:3]  # no fallback replies: the other replica served
