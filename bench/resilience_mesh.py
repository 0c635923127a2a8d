"""Resilience on the running mesh: Sonnet down, and cache hits while the model is saturated.

    python -m bench.resilience_mesh [--questions 40] [--saturation 80]

1. Sonnet down (the Bedrock emulator throttles every Sonnet call): Sonnet-routed questions
   (comparisons) — share answered rather than errored, and by which model.
2. Bulkhead: exact-cache hits timed while idle, then while ``--saturation`` concurrent
   model-bound questions hold the inference path (the emulator's first token delayed by
   3 s), interleaved in one run; p50/p95 and the ratio.

Prints tables and writes ``bench/results/resilience_mesh.json``. Numbers, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench.common import pct, timed
from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.emulator import set_faults

REPO = Path(__file__).resolve().parents[1]
TITLES = ["ワンピース", "ナルト", "ブリーチ", "呪術廻戦", "鬼滅の刃", "チェンソーマン", "進撃の巨人", "ハイキュー",
          "スラムダンク", "ベルセルク", "モンスター", "ヴィンランド・サガ", "葬送のフリーレン", "キングダム"]


async def sonnet_down(url: str, emulator: str, questions: int) -> dict[str, Any]:
    set_faults(emulator, {"model": "sonnet", "fault": "throttle"})
    models: dict[str, int] = {}
    errors = 0
    async with connect(url, compression=None) as ws:
        for i in range(questions):
            a, b = TITLES[i % len(TITLES)], TITLES[(i * 5 + 3) % len(TITLES)]
            _, frame = await timed(ws, f"{a}と{b}ならどっちがおすすめ？比較して ({i})", f"s{i}")
            if frame["type"] == "error":
                errors += 1
            else:
                models[frame["model"]] = models.get(frame["model"], 0) + 1
    set_faults(emulator)
    return {"questions": questions, "answered_share": (questions - errors) / questions, "by_model": models}


async def cache_hits_under_saturation(url: str, emulator: str, saturation: int) -> dict[str, Any]:
    question = "How much is Naruto volume 1?"
    async with connect(url, compression=None) as ws:
        await timed(ws, question, "warm")
        await asyncio.sleep(1.0)  # written once the output guardrail cleared it
        idle = [(await timed(ws, question, f"i{n}"))[0] for n in range(100)]

        set_faults(emulator, {"model": "*", "fault": "slow-first-token=3000"})

        async def model_bound(n: int) -> None:
            async with connect(url, compression=None) as other:
                await timed(other, f"Recommend a fantasy manga about topic number {n}", f"b{n}")

        load = [asyncio.create_task(model_bound(n)) for n in range(saturation)]
        await asyncio.sleep(1.0)  # the slow calls now hold the inference bulkhead
        busy = [(await timed(ws, question, f"h{n}"))[0] for n in range(100)]
        await asyncio.gather(*load, return_exceptions=True)
        set_faults(emulator)
    return {
        "idle": {"p50_ms": pct(idle, 50), "p95_ms": pct(idle, 95)},
        "fm_saturated": {"p50_ms": pct(busy, 50), "p95_ms": pct(busy, 95)},
        "p95_ratio": pct(busy, 95) / pct(idle, 95),
        "saturating_requests": saturation,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--saturation", type=int, default=80)
    args = parser.parse_args()
    env = {"MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE": "zero",
           "MANGAASSIST_RETRIEVAL_INDEX_DIR": str(REPO / ".cache" / "index")}
    for svc in ("INTENT", "RETRIEVAL", "INFERENCE", "ORCHESTRATOR"):
        env[f"MANGAASSIST_{svc}_LOG_LEVEL"] = "WARNING"
    with tempfile.TemporaryDirectory() as logs, Cluster(env=env, log_dir=Path(logs)) as cluster:
        emulator = cluster.url("bedrock_emulator")
        down = asyncio.run(sonnet_down(cluster.ws_url, emulator, args.questions))
        bulkhead = asyncio.run(cache_hits_under_saturation(cluster.ws_url, emulator, args.saturation))
    print(f"\nSonnet down: {down['answered_share'] * 100:.1f} % of {down['questions']} Sonnet-routed questions "
          f"answered, by model {down['by_model']}")
    print(f"\n{'exact cache hit':<22}{'p50 ms':>10}{'p95 ms':>10}")
    for kind in ("idle", "fm_saturated"):
        print(f"{kind:<22}{bulkhead[kind]['p50_ms']:>10.2f}{bulkhead[kind]['p95_ms']:>10.2f}")
    print(f"p95 ratio saturated / idle: {bulkhead['p95_ratio']:.2f}")
    out = REPO / "bench" / "results" / "resilience_mesh.json"
    out.write_text(json.dumps({"benchmark": "resilience_mesh", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "sonnet_down": down, "cache_hits_with_fm_saturated": bulkhead}, indent=2) + "\n")
    print(f"results written to bench/results/{out.name}")


if __name__ == "__main__":
    main()
