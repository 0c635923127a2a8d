"""Load: N concurrent WebSocket sessions against the real local cluster, model emulated at the design's latency.

The whole cluster runs as ``make up`` runs it (four services, Redis Stack for the semantic
cache, moto for DynamoDB, the trace receiver) on ephemeral ports, with the Bedrock
emulator on its default latency profile (time to first token Haiku ≈ 150 ms median /
300 ms p95, Sonnet ≈ 400 / 800 ms). Each session is one WebSocket that asks a few
questions in a row (the ``session_id`` carried over, a short random think time between),
drawn from a JP/EN mix: popular questions that every session may ask (answered from the
semantic cache once warm) and one-off questions with a varying volume number, price or
title (always new to the caches), across product, FAQ, order and greeting intents.

Per question the client records end to end (query sent → terminal frame), time to first
token, and the **mesh overhead**: time to first token minus the model's own time to first
token as the inference service saw it (``timings_ms["model-inference"]`` of the ``done``
frame; the whole time to first token for cache hits and model-free answers). Sessions grow
16 → 512; a level is *held* only when errors ≤ 0.1 % of its questions and p95 time to
first token ≤ 2 s, and every percentile is printed beside its error rate.
"""

from __future__ import annotations

import asyncio
import math
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bench.common import QUERY_TIMEOUT_S, ask, cluster_env, timed
from bench.peers import stats
from bench.peers.report import save_figure, table
from mangaassist.bedrock_emulator.app import EmulatorSettings
from mangaassist.devtools.cluster import Cluster

SLO_TTFT_MS = 2000.0
SEED = 11
FULL_LEVELS = (16, 32, 64, 128, 256, 512)
QUICK_LEVELS = (16, 64)
THINK_S = (0.0, 0.5)
# Sessions start spread over this many seconds (customers do not all press Enter at once).
RAMP_S = 1.0
# Between runs, wait (up to this long) until no request is in flight and every breaker is closed,
# so one level's overload does not leak into the next.
SETTLE_MAX_S = 45.0
# Asked by many customers: once warm, answered from the semantic cache (model-written intents).
POPULAR = [
    "おすすめのダークファンタジーは？",
    "Recommend a sports manga for a 12 year old",
    "人気の少年漫画を教えて",
    "What are the best-selling manga right now?",
    "おすすめの恋愛マンガは？",
    "Any good horror manga?",
    "鬼滅の刃とチェンソーマンならどっちがおすすめ？",
    "Is Frieren finished? How many volumes are out?",
    "送料はいくらですか",
    "Can I pay with PayPay?",
    "返品の方法を教えてください",
    "こんにちは",
]
TITLES = [
    "ONE PIECE",
    "ワンピース",
    "進撃の巨人",
    "Vinland Saga",
    "呪術廻戦",
    "Spy x Family",
    "ブルーロック",
    "Chainsaw Man",
    "葬送のフリーレン",
    "Berserk",
    "ハイキュー!!",
    "Monster",
]
GENRES_EN = ["fantasy", "romance", "sports", "horror", "mystery", "comedy", "sci-fi"]
GENRES_JA = ["ファンタジー", "恋愛", "スポーツ", "ホラー", "推理", "ギャグ", "SF"]


# The kinds of one-off question, each from the generator and a title drawn for it (some kinds
# leave the title unused): a new volume (ja, en), a new price (ja, en), an order number, an age.
ONE_OFF_KINDS: tuple[Callable[[random.Random, str], str], ...] = (
    lambda rng, title: f"{title}の{rng.randint(1, 40)}巻は在庫ありますか",
    lambda rng, title: f"Do you have volume {rng.randint(1, 40)} of {title} in English?",
    lambda rng, _: f"{rng.randint(5, 30) * 100}円以下の{rng.choice(GENRES_JA)}マンガを探しています",
    lambda rng, _: f"{rng.choice(GENRES_EN)} manga under ¥{rng.randint(5, 30) * 100} that is in stock",
    lambda rng, _: (
        f"注文 {rng.randint(100, 999)}-{rng.randint(1_000_000, 9_999_999)}-{rng.randint(1_000_000, 9_999_999)}"
        " はいつ届きますか"
    ),
    lambda rng, title: f"Something like {title} but for a {rng.randint(8, 16)} year old",
)


def one_off(rng: random.Random) -> str:
    """A question no one asked before (a new volume, price or order number): misses every cache."""
    kind = rng.randrange(len(ONE_OFF_KINDS))
    title = rng.choice(TITLES)
    return ONE_OFF_KINDS[kind](rng, title)


def question(rng: random.Random) -> str:
    """The mix: 45 % popular (repeats), 55 % one-off."""
    return rng.choice(POPULAR) if rng.random() < 0.45 else one_off(rng)


def sizes(quick: bool) -> dict[str, Any]:
    return {"levels": list(QUICK_LEVELS if quick else FULL_LEVELS), "questions_per_session": 1 if quick else 3}


async def session(
    url: str,
    rng: random.Random,
    questions: int,
    out: list[dict[str, Any]],
    start: asyncio.Barrier,
    think: tuple[float, float] = THINK_S,
) -> None:
    """One customer: connect, wait until every session is connected, ask ``questions`` in a row
    (``think`` seconds apart, uniform)."""
    try:
        ws = await connect(url, compression=None, max_size=None, open_timeout=60, ping_interval=None)
    except (OSError, WebSocketException, TimeoutError) as exc:
        out.extend({"ok": False, "error": f"connect:{type(exc).__name__}"} for _ in range(questions))
        await start.wait()
        return
    session_id: str | None = None
    try:
        await start.wait()
        await asyncio.sleep(rng.uniform(0.0, RAMP_S))
        for q in range(questions):
            if q:
                await asyncio.sleep(rng.uniform(*think))
            request_id = f"q{q}"
            frame: dict[str, Any] = {"type": "query", "request_id": request_id, "text": question(rng)}
            if session_id:
                frame["session_id"] = session_id
            record = await ask(ws, frame)
            if record.pop("gone", False):
                # The connection is gone: this and every later question of the session fail.
                out.extend({"ok": False, "error": record["error"]} for _ in range(questions - q))
                return
            if record["ok"]:
                session_id = record["session_id"] or session_id
            out.append(record)
    finally:
        await ws.close()


async def closed_loop(
    url: str, sessions: int, questions: int, seed: int, think: tuple[float, float] = THINK_S
) -> tuple[list[dict[str, Any]], float]:
    """``sessions`` concurrent customers of ``questions`` each: their records and the wall time
    from the moment every session is connected (the clock starts when all may ask)."""
    out: list[dict[str, Any]] = []
    start = asyncio.Barrier(sessions + 1)
    rng = random.Random(seed)
    tasks = [
        asyncio.create_task(session(url, random.Random(rng.getrandbits(64)), questions, out, start, think))
        for _ in range(sessions)
    ]
    await start.wait()
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    return out, time.perf_counter() - started


async def level(url: str, sessions: int, questions: int, seed: int) -> dict[str, Any]:
    """One run at ``sessions`` concurrent sessions: percentiles, errors, throughput."""
    out, wall = await closed_loop(url, sessions, questions, seed)
    ok = [r for r in out if r["ok"]]
    errors: dict[str, int] = {}
    for r in out:
        if not r["ok"]:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
    result: dict[str, Any] = {
        "questions": len(out),
        "answered": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "throughput_qps": len(ok) / wall if wall else math.nan,
        "cache_hit_rate": sum(r["cache_hit"] for r in ok) / len(ok) if ok else math.nan,
    }
    for metric in ("e2e", "ttft", "overhead"):
        values = [r[metric] for r in ok]
        for q in (50, 95, 99):
            result[f"{metric}_p{q}"] = stats.percentile(values, q)
    return result


async def warm_up(url: str, progress: Callable[[str], None]) -> None:
    """Ask every popular question once (they enter the semantic cache), then let the writes land."""

    async def ask_all(texts: list[str]) -> None:
        async with connect(url, compression=None, max_size=None) as ws:
            for i, text in enumerate(texts):
                await timed(ws, text, f"w{i}")

    await asyncio.gather(*(ask_all(POPULAR[i::4]) for i in range(4)))
    progress("warmed up")
    await asyncio.sleep(1.0)


async def settle(url: str, status_url: str) -> float:
    """Wait until the orchestrator is idle with every breaker closed; seconds waited.

    A breaker past its cooldown is half-open and closes only after probe calls succeed,
    which an idle mesh never makes: then ask one fresh question (a recommendation and a
    comparison in turn, so both the Haiku and the Sonnet path get probes) and look again.
    """
    started = time.perf_counter()
    probes = 0
    async with aiohttp.ClientSession() as http, connect(url, compression=None, max_size=None) as ws:
        while time.perf_counter() - started < SETTLE_MAX_S:
            async with http.get(status_url) as resp:
                status = await resp.json()
            idle = status["inflight_requests"] == 0 and status["postprocess"]["pending"] == 0
            states = [g["breaker"]["state"] for g in status["guards"].values()]
            if idle and all(state == "closed" for state in states):
                break
            if idle and "half_open" in states:
                probes += 1
                text = (
                    f"Recommend a fantasy manga, probe {probes}"
                    if probes % 2
                    else f"Which is better for a beginner, Naruto or Bleach? (probe {probes})"
                )
                await timed(ws, text, f"p{probes}")
                continue
            await asyncio.sleep(0.5)
    return time.perf_counter() - started


async def measure(url: str, status_url: str, quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]:
    size = sizes(quick)
    await warm_up(url, progress)
    runs: dict[str, list[dict[str, Any]]] = {str(n): [] for n in size["levels"]}
    for rep in range(reps):
        for n in size["levels"]:
            waited = await settle(url, status_url)
            got = await level(url, n, size["questions_per_session"], SEED + 1000 * rep + n)
            got["settle_s"] = waited
            runs[str(n)].append(got)
            progress(f"rep {rep + 1}/{reps}: {n} sessions")
    levels: dict[str, Any] = {}
    for n, per_rep in runs.items():
        keys = [k for k in per_rep[0] if k != "error_kinds"]
        levels[n] = {k: stats.summary([float(r[k]) for r in per_rep]) for k in keys}
        kinds: dict[str, int] = {}
        for r in per_rep:
            for kind, count in r["error_kinds"].items():
                kinds[kind] = kinds.get(kind, 0) + count
        levels[n]["error_kinds"] = kinds
    return {
        "settings": {
            **size,
            "reps": reps,
            "slo_ttft_p95_ms": SLO_TTFT_MS,
            "think_s": list(THINK_S),
            "ramp_s": RAMP_S,
            "popular_share": 0.45,
            "popular_questions": len(POPULAR),
            "query_timeout_s": QUERY_TIMEOUT_S,
            "emulator_latency_profile": "seed",
            "seeds": {"load": SEED, "emulator": EmulatorSettings().seed},
        },
        "levels": levels,
        "slo_crossing": slo_crossing(levels),
    }


HELD_MAX_ERROR_RATE = 0.001


def level_held(by: dict[str, Any], slo_ttft_p95_ms: float) -> bool:
    """A level is held only when errors ≤ 0.1 % of its questions *and* TTFT p95 (over the
    answered ones) ≤ the SLO, both as medians over repetitions: a p95 over the few questions
    that were answered says nothing when most failed."""
    questions = by["questions"]["median"]
    p95 = by["ttft_p95"]["median"]
    if not questions or p95 is None or (isinstance(p95, float) and math.isnan(p95)):
        return False
    return bool(by["errors"]["median"] / questions <= HELD_MAX_ERROR_RATE and p95 <= slo_ttft_p95_ms)


def held_verdict(levels: dict[str, Any], slo_ttft_p95_ms: float) -> str:
    """The summary line: the highest level held, and where errors begin."""
    ordered = sorted(levels.items(), key=lambda kv: int(kv[0]))
    held = [int(n) for n, by in ordered if level_held(by, slo_ttft_p95_ms)]
    rule = f"errors ≤ {HELD_MAX_ERROR_RATE:.1%} of questions and p95 time to first token ≤ {slo_ttft_p95_ms:.0f} ms"
    if not held:
        return f"No level tried was held ({rule})."
    text = f"Highest level held ({rule}): {max(held)} concurrent sessions on this box."
    failing = [(n, by) for n, by in ordered if int(n) > max(held) and by["questions"]["median"]]
    if failing:
        n, worst = failing[0]
        text += (
            f" At {n} sessions {worst['errors']['median'] / worst['questions']['median']:.1%} of questions "
            "failed; the percentiles there are over the answered questions only."
        )
    return text


def slo_crossing(levels: dict[str, Any]) -> dict[str, Any]:
    """Where the median p95 TTFT first exceeds the SLO, interpolated linearly between levels."""
    previous: tuple[int, float] | None = None
    for n, by in sorted(levels.items(), key=lambda kv: int(kv[0])):
        p95 = by["ttft_p95"]["median"]
        if p95 is None or not p95 <= SLO_TTFT_MS:  # no answers at all counts as over
            p95 = math.inf if p95 is None or math.isnan(p95) else p95
            if previous is None:
                return {"crossed": True, "sessions": int(n), "between": [None, int(n)]}
            n0, v0 = previous
            if math.isinf(p95):
                return {"crossed": True, "sessions": int(n), "between": [n0, int(n)]}
            at = n0 + (SLO_TTFT_MS - v0) * (int(n) - n0) / (p95 - v0)
            return {"crossed": True, "sessions": round(at), "between": [n0, int(n)]}
        previous = (int(n), p95)
    return {"crossed": False, "sessions": None, "between": [previous[0] if previous else None, None]}


def run(quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]:
    # Two sockets per session on this box (client and server end) plus the cluster's own.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * max(sizes(quick)["levels"]) + 1024
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    env = cluster_env()
    progress("starting the cluster")
    with tempfile.TemporaryDirectory() as logs, Cluster(env=env, log_dir=Path(logs)) as cluster:
        status_url = f"http://{cluster.address('admin')}/admin/status"
        result = uvloop.run(measure(cluster.ws_url, status_url, quick, reps, progress))
    result["settings"]["fd_limit"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return result


def markdown(result: dict[str, Any], plots_dir: Path) -> str:
    s = result["settings"]
    rows = []
    for n, by in result["levels"].items():
        questions = by["questions"]["median"]
        rate = by["errors"]["median"] / questions if questions else math.nan
        rows.append(
            [
                n,
                f"{rate:.1%}",
                "yes" if level_held(by, s["slo_ttft_p95_ms"]) else "no",
                *(stats.fmt(by[f"ttft_p{q}"], 0) for q in (50, 95, 99)),
                *(stats.fmt(by[f"overhead_p{q}"], 0) for q in (50, 95, 99)),
                *(stats.fmt(by[f"e2e_p{q}"], 0) for q in (50, 95, 99)),
                stats.fmt(by["throughput_qps"], 1),
                stats.fmt(by["cache_hit_rate"], 2),
                f"{stats.fmt(by['errors'], 0)} / {stats.fmt(by['questions'], 0)}",
            ]
        )
    kinds = {k: v for by in result["levels"].values() for k, v in by["error_kinds"].items()}
    verdict = held_verdict(result["levels"], s["slo_ttft_p95_ms"])
    link = _plot(result, plots_dir)
    return "\n".join(
        [
            "## Load: concurrent WebSocket sessions against the whole local cluster",
            "",
            "Every service and stand-in as `make up` runs them, on ephemeral ports; the Bedrock emulator on "
            "its default latency profile (first token Haiku ≈ 150 ms median / 300 ms p95, Sonnet ≈ 400 / 800 ms). "
            f"Each session is one WebSocket that starts within the first {s['ramp_s']:.0f} s and asks "
            f"{s['questions_per_session']} question(s) in a row (session carried over, think time "
            f"{s['think_s'][0]}–{s['think_s'][1]} s); before each run the harness waits until the orchestrator is "
            f"idle with every breaker closed, so runs are independent. Questions are {s['popular_share']:.0%} popular "
            f"repeats ({s['popular_questions']} JP/EN questions, warmed into the semantic cache) and the rest one-off "
            "questions (new volume numbers, prices, order numbers) across product, FAQ, order and greeting intents. "
            "*Overhead* = time to first token − the model's own time to first token (`timings_ms.model-inference`). "
            f"{s['reps']} repetitions per level; the client runs on the same 2 cores. All times in ms.",
            "",
            f"**{verdict}**",
            "",
            table(
                [
                    "sessions",
                    "error rate",
                    "held",
                    "TTFT p50",
                    "TTFT p95",
                    "TTFT p99",
                    "overhead p50",
                    "overhead p95",
                    "overhead p99",
                    "end-to-end p50",
                    "end-to-end p95",
                    "end-to-end p99",
                    "answers/s",
                    "cache-hit rate",
                    "errors / questions",
                ],
                rows,
            ),
            "",
            ("Errors by kind (all repetitions): " + "; ".join(f"`{k}` × {v}" for k, v in sorted(kinds.items())))
            if kinds
            else "No errors.",
            "",
            f"![load: time to first token and throughput by sessions]({link})",
            "",
        ]
    )


def _num(value: float | None) -> float:
    return math.nan if value is None else value


def _plot(result: dict[str, Any], plots_dir: Path) -> str:
    import matplotlib.pyplot as plt

    levels = result["levels"]
    ns = [int(n) for n in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for metric, style in (("ttft", "-"), ("overhead", ":")):
        for q, colour in ((50, "#2ca02c"), (95, "#ff7f0e"), (99, "#d62728")):
            by = [levels[str(n)][f"{metric}_p{q}"] for n in ns]
            left.plot(
                ns,
                [_num(b["median"]) for b in by],
                style,
                marker="o",
                color=colour,
                label=f"{'TTFT' if metric == 'ttft' else 'overhead'} p{q}",
            )
            left.fill_between(ns, [_num(b["min"]) for b in by], [_num(b["max"]) for b in by], color=colour, alpha=0.12)
    left.axhline(
        result["settings"]["slo_ttft_p95_ms"], color="black", linewidth=0.8, linestyle="--", label="SLO (p95 TTFT)"
    )
    left.set_xscale("log", base=2)
    left.set_xticks(ns, [str(n) for n in ns])
    left.set_xlabel("concurrent sessions")
    left.set_ylabel("ms (median, min–max band)")
    left.legend(fontsize=7, ncol=2)
    qps = [levels[str(n)]["throughput_qps"] for n in ns]
    med = [_num(b["median"]) for b in qps]
    right.errorbar(
        ns,
        med,
        yerr=[
            [m - _num(b["min"]) for m, b in zip(med, qps, strict=True)],
            [_num(b["max"]) - m for m, b in zip(med, qps, strict=True)],
        ],
        marker="o",
        capsize=3,
    )
    right.set_xscale("log", base=2)
    right.set_xticks(ns, [str(n) for n in ns])
    right.set_xlabel("concurrent sessions")
    right.set_ylabel("answers / s")
    return save_figure(fig, plots_dir, "load")
