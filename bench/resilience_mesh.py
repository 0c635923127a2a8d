"""Resilience on the running mesh: Sonnet down, and cache hits while the model is saturated.

    python -m bench.resilience_mesh [--questions 40] [--saturation 80]

1. Sonnet down (the Bedrock emulator throttles every Sonnet call): Sonnet-routed questions
   (comparisons) — share answered rather than errored, and by which model.
2. Bulkhead: exact-cache hits timed while idle, during the arrival of ``--saturation``
   concurrent model-bound questions, and once those hold the inference path (the
   emulator's first token delayed by 3 s; the inference bulkheads full), the three phases
   repeated ``--reps`` times in one run; p50/p95 and the ratios to idle.

Prints tables and writes ``bench/results/resilience_mesh.json``. Numbers, never pass/fail.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench.common import cluster_env, pct, save_result, stamp, timed, whole_number_options
from mangaassist.devtools.cluster import Cluster, http_health
from mangaassist.devtools.emulator import set_faults

SLOW_FIRST_TOKEN_MS = 3000  # the model's first token during a saturation wave
TITLES = [
    "ワンピース",
    "ナルト",
    "ブリーチ",
    "呪術廻戦",
    "鬼滅の刃",
    "チェンソーマン",
    "進撃の巨人",
    "ハイキュー",
    "スラムダンク",
    "ベルセルク",
    "モンスター",
    "ヴィンランド・サガ",
    "葬送のフリーレン",
    "キングダム",
]


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


def inference_parked(admin: str) -> tuple[int, bool]:
    """Model calls the orchestrator's inference bulkheads admit now (Haiku + Sonnet), and
    whether one of them is full."""
    _, status = http_health(f"http://{admin}/admin/status", timeout=2.0)
    guards = status.get("guards", {})
    assert isinstance(guards, dict)
    heads = [g["bulkhead"] for name, g in guards.items() if name.startswith("inference:")]
    return sum(int(h["active"]) for h in heads), any(int(h["active"]) >= int(h["limit"]) for h in heads)


async def cache_hits_under_saturation(
    url: str, orchestrator: str, emulator: str, saturation: int, reps: int, hits: int
) -> dict[str, Any]:
    """Exact-cache hits in three phases per repetition, A/B/C in one run:

    * ``idle`` — nothing else running;
    * ``arrival_burst`` — while ``saturation`` model-bound questions are being classified
      and searched (they share the 2 CPU cores with the hits);
    * ``fm_saturated`` — once those questions are parked on the model (the inference
      bulkheads are full, the first token is 3 s away) and the ones that found no slot
      have been refused: the bulkhead's own claim.
    """
    question = "How much is Naruto volume 1?"
    samples: dict[str, list[float]] = {"idle": [], "arrival_burst": [], "fm_saturated": []}
    parked_at: list[int] = []
    settled_at: list[float] = []
    outcomes: list[dict[str, int]] = []  # how the saturating questions ended, per repetition
    saturating = [f"Recommend a fantasy manga about topic number {n}" for n in range(saturation)]

    async def ask(ws: Any, text: str, request_id: str, max_price: int) -> str:
        """Ask and wait for the end; ``done`` or the error code."""
        await ws.send(
            json.dumps(
                {"type": "query", "request_id": request_id, "text": text, "filters": {"max_price_jpy": max_price}}
            )
        )
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("request_id") == request_id and frame["type"] in ("done", "error"):
                return str(frame.get("code", frame["type"]))

    async with connect(url, compression=None) as ws:
        await timed(ws, question, "warm")
        # Each wave asks the same texts with a price limit of its own: never a cache hit
        # (the limit is part of the key), but the retrieval service has their vectors
        # already, so a wave reaches the model in milliseconds instead of queueing on the
        # 2 cores for ~20 ms of embedding each.
        for n, text in enumerate(saturating):
            await ask(ws, text, f"w{n}", 100_000)
        await asyncio.sleep(1.0)  # written once the output guardrail cleared it
        for rep in range(reps):
            samples["idle"] += [(await timed(ws, question, f"i{rep}-{n}"))[0] for n in range(hits)]
            set_faults(emulator, {"model": "*", "fault": f"slow-first-token={SLOW_FIRST_TOKEN_MS}"})

            async def model_bound(n: int, rep: int = rep) -> str:
                async with connect(url, compression=None) as other:
                    return await ask(other, saturating[n], f"b{rep}-{n}", 50_000 + rep)

            wave = time.monotonic()
            load = [asyncio.create_task(model_bound(n)) for n in range(saturation)]
            n = 0
            parked = 0
            while time.monotonic() < wave + 2.5:
                samples["arrival_burst"].append((await timed(ws, question, f"a{rep}-{n}"))[0])
                n += 1
                parked, full = await asyncio.to_thread(inference_parked, orchestrator)
                if full or parked >= saturation:
                    break
            parked_at.append(parked)
            # The arrival is over once every call that did not get a model slot has been
            # refused (after the bulkhead wait) and its connection closed: from then on the
            # model is merely saturated. Hits are taken before the parked calls' first-token
            # budget (2 s from their arrival) runs out and they all fail at once.
            pending = {t for t in load if not t.done()}
            while len(pending) > parked and time.monotonic() < wave + 1.5:
                _, pending = await asyncio.wait(
                    pending, timeout=wave + 1.5 - time.monotonic(), return_when=asyncio.FIRST_COMPLETED
                )
            settled_at.append(round(time.monotonic() - wave, 3))
            taken = 0
            while taken < hits and time.monotonic() < wave + 1.9:
                samples["fm_saturated"].append((await timed(ws, question, f"h{rep}-{taken}"))[0])
                taken += 1
            ends = await asyncio.gather(*load, return_exceptions=True)
            outcomes.append(dict(Counter(e if isinstance(e, str) else type(e).__name__ for e in ends)))
            set_faults(emulator)
            # Idle means idle: the emulator's parked streams end SLOW_FIRST_TOKEN_MS after they began.
            await asyncio.sleep(max(0.0, wave + SLOW_FIRST_TOKEN_MS / 1000 + 0.5 - time.monotonic()))
    out: dict[str, Any] = {k: {"n": len(v), "p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in samples.items()}
    out["p95_ratio"] = pct(samples["fm_saturated"], 95) / pct(samples["idle"], 95)
    out["p95_ratio_arrival_burst"] = pct(samples["arrival_burst"], 95) / pct(samples["idle"], 95)
    out["saturating_requests"] = saturation
    out["model_calls_parked_per_rep"] = parked_at
    out["saturated_phase_began_s_after_wave"] = settled_at
    out["saturating_outcomes_per_rep"] = outcomes
    return out


def main() -> None:
    args = whole_number_options(questions=40, saturation=80, reps=5, hits=30)
    # Each saturation wave ends in 40+ first-token timeouts, which would (rightly) open the
    # inference breaker and turn the next wave into fast failures instead of parked calls:
    # this run measures the bulkhead, so the inference breaker trips only on far more.
    env = cluster_env(
        MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE="zero",
        MANGAASSIST_ORCHESTRATOR_BREAKERS=json.dumps(
            {"inference": {"failure_threshold": 100_000, "min_calls": 100_000}}
        ),
    )
    with tempfile.TemporaryDirectory() as logs, Cluster(env=env, log_dir=Path(logs)) as cluster:
        emulator = cluster.url("bedrock_emulator")
        down = asyncio.run(sonnet_down(cluster.ws_url, emulator, args.questions))
        bulkhead = asyncio.run(
            cache_hits_under_saturation(
                cluster.ws_url, cluster.address("admin"), emulator, args.saturation, args.reps, args.hits
            )
        )
    print(
        f"\nSonnet down: {down['answered_share'] * 100:.1f} % of {down['questions']} Sonnet-routed questions "
        f"answered, by model {down['by_model']}"
    )
    print(f"\n{'exact cache hit':<22}{'p50 ms':>10}{'p95 ms':>10}")
    for kind in ("idle", "arrival_burst", "fm_saturated"):
        print(f"{kind:<22}{bulkhead[kind]['p50_ms']:>10.2f}{bulkhead[kind]['p95_ms']:>10.2f}")
    print(
        f"p95 ratio FM saturated / idle: {bulkhead['p95_ratio']:.2f} (goal <= 1.2); "
        f"during the arrival burst / idle: {bulkhead['p95_ratio_arrival_burst']:.2f}; "
        f"model calls parked per repetition: {bulkhead['model_calls_parked_per_rep']}"
    )
    save_result({**stamp("resilience_mesh"), "sonnet_down": down, "cache_hits_with_fm_saturated": bulkhead})


if __name__ == "__main__":
    main()
