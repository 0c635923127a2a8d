"""End-to-end benchmark: client-observed latency and every segment, sequential and concurrent.

Starts the local cluster on ephemeral ports with the emulator's per-token delay at 0
(so the numbers are the mesh's own cost, not a simulated model), then runs the same
JP/EN query mix sequentially and with 32 concurrent WebSocket sessions. Prints p50/p95
tables and writes ``bench/results/e2e.json``. It never passes or fails on a number.

    python -m bench.e2e [--queries 200] [--concurrency 32]
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.common import cluster_env, pct, save_result, stamp, whole_number_options
from mangaassist.devtools.cluster import Cluster

QUERIES: list[dict[str, Any]] = [
    {"text": "おすすめのダークファンタジーは？"},
    {"text": "Recommend a sports manga for a 12 year old"},
    {"text": "ワンピースの1巻はありますか"},
    {"text": "Do you have Vinland Saga in English?", "filters": {"language": "en"}},
    {
        "text": "2000円以下で在庫のある恋愛マンガ",
        "filters": {"max_price_jpy": 2000, "in_stock": True, "genre": "romance"},
    },
    {"text": "Is Frieren finished? How many volumes are out?"},
    {"text": "送料はいくらですか"},
    {"text": "Can I pay with PayPay?"},
    {"text": "返品の方法を教えてください"},
    {"text": "こんにちは"},
    {"text": "Where is my order 123-4567890-1234567?"},
    {"text": "Something like Monster but less dark, and cheaper than ¥1,000", "filters": {"max_price_jpy": 1000}},
    {"text": "鬼滅の刃とチェンソーマンならどっちがおすすめ？"},
    {"text": "horror manga in stock", "filters": {"in_stock": True, "genre": "horror"}},
    {"text": "パスワードを忘れました"},
    {"text": "I want to talk to a human"},
]


async def one_query(ws: ClientConnection, i: int, query: dict[str, Any]) -> dict[str, Any]:
    request_id = f"b{i}"
    sent = time.perf_counter()
    await ws.send(json.dumps({"type": "query", "request_id": request_id, **query}, ensure_ascii=False))
    first: float | None = None
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("request_id") != request_id:
            continue
        now = time.perf_counter()
        if frame["type"] == "token" and first is None:
            first = now
        elif frame["type"] in ("done", "error"):
            return {
                "ok": frame["type"] == "done",
                "e2e_ms": (now - sent) * 1000,
                "ttft_ms": ((first or now) - sent) * 1000,
                "timings_ms": frame.get("timings_ms", {}),
                "model": frame.get("model"),
            }


async def run_scenario(url: str, total: int, concurrency: int) -> list[dict[str, Any]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    results: list[dict[str, Any]] = []

    async def worker() -> None:
        async with connect(url, compression=None, max_size=None) as ws:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                results.append(await one_query(ws, i, QUERIES[i % len(QUERIES)]))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def summarise(results: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    ok = [r for r in results if r["ok"]]
    segments: dict[str, list[float]] = defaultdict(list)
    for r in ok:
        for name, ms in r["timings_ms"].items():
            segments[name].append(ms)
    return {
        "queries": len(results),
        "errors": len(results) - len(ok),
        "throughput_qps": round(len(results) / wall_s, 1),
        "e2e_ms": {"p50": pct([r["e2e_ms"] for r in ok], 50), "p95": pct([r["e2e_ms"] for r in ok], 95)},
        "ttft_ms": {"p50": pct([r["ttft_ms"] for r in ok], 50), "p95": pct([r["ttft_ms"] for r in ok], 95)},
        "segments_ms": {
            name: {"p50": pct(v, 50), "p95": pct(v, 95), "n": len(v)} for name, v in sorted(segments.items())
        },
    }


def print_table(name: str, s: dict[str, Any]) -> None:
    print(f"\n## {name}: {s['queries']} queries, {s['errors']} errors, {s['throughput_qps']} q/s")
    print(f"{'segment':<28}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'end-to-end (client)':<28}{s['e2e_ms']['p50']:>10.2f}{s['e2e_ms']['p95']:>10.2f}")
    print(f"{'first token (client)':<28}{s['ttft_ms']['p50']:>10.2f}{s['ttft_ms']['p95']:>10.2f}")
    for seg, v in s["segments_ms"].items():
        print(f"{seg:<28}{v['p50']:>10.2f}{v['p95']:>10.2f}")


async def bench(url: str, total: int, concurrency: int) -> dict[str, Any]:
    await run_scenario(url, 2 * len(QUERIES), 4)  # warm-up: channels, caches, JIT-free but lazy paths
    out = {}
    for name, conc in (("sequential", 1), (f"concurrent_{concurrency}", concurrency)):
        started = time.perf_counter()
        results = await run_scenario(url, total, conc)
        out[name] = summarise(results, time.perf_counter() - started)
        print_table(name, out[name])
    return out


def main() -> None:
    args = whole_number_options(queries=200, concurrency=32)
    with tempfile.TemporaryDirectory() as logs:
        env = cluster_env(MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS="0", MANGAASSIST_LOG_LEVEL="WARNING")
        with Cluster(env=env, log_dir=Path(logs)) as cluster:
            scenarios = asyncio.run(bench(cluster.ws_url, args.queries, args.concurrency))
    report = {
        **stamp("e2e"),
        "settings": {
            "token_delay_ms": 0,
            "queries": args.queries,
            "concurrency": args.concurrency,
            "query_mix": len(QUERIES),
        },
        "scenarios": scenarios,
    }
    save_result(report)


if __name__ == "__main__":
    main()
