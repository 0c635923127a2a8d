"""Data-plane benchmark: what a cache hit costs end to end, and whether session turns survive
failing writes.

    python -m bench.dataplane [--questions 40] [--repeats 5] [--turns 1000]

1. Through the real WebSocket of a local cluster (Redis Stack cache, moto DynamoDB,
   emulator at zero latency): each question once (a miss, answered by the model), then
   its repeats (exact-tier hits) and a paraphrase (semantic tier), interleaved;
   end-to-end p50/p95 per kind.
2. 1,000 session turns through the post-processor into DynamoDB (moto), with 30 % of
   the writes failing before they reach it: turns lost (from the items' versions).

Prints tables and writes ``bench/results/dataplane.json``. Numbers, never pass/fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench.common import REPO, cluster_env, pct, save_result, stamp, timed, whole_number_options
from mangaassist.devtools.cluster import LOCAL_AWS_ENV, Cluster
from mangaassist.devtools.faults import FailingAppends
from mangaassist.orchestrator.dynamo import DynamoClient, DynamoSessionStore
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.sessions import Turn

CALIBRATION = REPO / "bench/cache_eval/calibration.jsonl"


async def cache_latency(url: str, questions: int, repeats: int) -> dict[str, Any]:
    pairs = [json.loads(line) for line in CALIBRATION.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [p for p in pairs if p["label"] == "hit"][:questions]
    kinds: dict[str, list[float]] = {
        "miss (model)": [],
        "exact hit": [],
        "exact hit, 100 ms think time": [],
        "semantic hit": [],
        "paraphrase missed": [],
    }
    async with connect(url, compression=None) as ws:
        for i, pair in enumerate(pairs):
            ms, done = await timed(ws, pair["a"], f"m{i}")
            if done["type"] == "done" and not done["cache_hit"]:
                kinds["miss (model)"].append(ms)
        await asyncio.sleep(1.0)  # entries are written after the output guardrail's verdict
        # Back to back (the answer's after-work — session write, spans — overlaps the next
        # question), then alternating with a customer's pause before the next question.
        for r in range(repeats):
            for i, pair in enumerate(pairs):
                paced = (r + i) % 2 == 1
                if paced:
                    await asyncio.sleep(0.1)
                ms, done = await timed(ws, pair["a"], f"x{r}-{i}")
                if done["type"] == "done" and done["cache_hit"]:
                    kinds["exact hit, 100 ms think time" if paced else "exact hit"].append(ms)
        for i, pair in enumerate(pairs):
            ms, done = await timed(ws, pair["b"], f"p{i}")
            if done["type"] == "done":
                kinds["semantic hit" if done["cache_hit"] else "paraphrase missed"].append(ms)
    return {k: {"n": len(v), "p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in kinds.items()}


async def session_turns(moto_url: str, turns: int) -> dict[str, Any]:
    os.environ.update(LOCAL_AWS_ENV)
    db = DynamoClient(LOCAL_AWS_ENV["AWS_DEFAULT_REGION"], moto_url)
    await db.open()
    try:
        await db.ensure_table("bench-sessions", "session_id", ttl_attribute="expires_at")
        store = FailingAppends(DynamoSessionStore(db, "bench-sessions", ttl_s=3600), rate=0.3, seed=11)
        post = PostProcessor(max_wait_s=0.05)
        sessions = [f"s-{os.urandom(4).hex()}" for _ in range(50)]
        per_session = turns // len(sessions)
        started = time.perf_counter()

        def job(sid: str, turn: int) -> Callable[[], Awaitable[None]]:
            return lambda: store.append(sid, Turn(None, "product_search", f"q{turn}", f"a{turn}"))

        for turn in range(per_session):
            for sid in sessions:
                await post.submit("session-update", job(sid, turn))
        await post.drain(120.0)
        elapsed = time.perf_counter() - started
        versions = [(await store.inner.load(sid)).version for sid in sessions]
        return {
            "turns": per_session * len(sessions),
            "injected_failures": store.injected,
            "retries": post.stats.failed_attempts,
            "turns_lost": per_session * len(sessions) - sum(versions),
            "seconds": round(elapsed, 2),
        }
    finally:
        await db.close()


def main() -> None:
    args = whole_number_options(questions=40, repeats=5, turns=1000)
    env = cluster_env(MANGAASSIST_INFERENCE_TOKEN_DELAY_MS="0")
    with tempfile.TemporaryDirectory() as logs, Cluster(env=env, log_dir=Path(logs)) as cluster:
        cache = asyncio.run(cache_latency(cluster.ws_url, args.questions, args.repeats))
        sessions = asyncio.run(session_turns(f"http://{cluster.address('aws')}", args.turns))
    print(f"\n{'end to end (WebSocket)':<32}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}")
    for kind, row in cache.items():
        print(f"{kind:<32}{row['n']:>6}{row['p50_ms']:>10.2f}{row['p95_ms']:>10.2f}")
    print(
        f"\nsession turns: {sessions['turns']} written with {sessions['injected_failures']} injected failures, "
        f"{sessions['retries']} retries, {sessions['turns_lost']} lost, {sessions['seconds']} s"
    )
    save_result({**stamp("dataplane"), "cache_end_to_end": cache, "session_turns": sessions})


if __name__ == "__main__":
    main()
