"""Tracing overhead: end-to-end and per-hop latency with telemetry export on vs off.

    python -m bench.observability [--queries 300]

Four local clusters (real processes, same settings, semantic cache off so every question
takes the whole path; the model stand-in at zero delay so the mesh's own cost is measured):

- ``export``: spans and metrics recorded and exported over OTLP to the local receiver on
  the SDK's default schedule (spans every 5 s, metrics every 60 s: production);
- ``export-fast``: the same on the local cluster's schedule (0.5 s / 1 s, for quick tests);
- ``no-export``: spans and metrics recorded, no exporter (``OTEL_TRACES_EXPORTER=none``,
  ``OTEL_METRICS_EXPORTER=none``);
- ``disabled``: ``OTEL_SDK_DISABLED=true`` (no-op tracer and meter).

Questions go to the four in turn, one at a time (interleaved, so load on the shared
machine hits every arm alike). Per arm: p50/p95 of the client-observed end-to-end time
and of each hop from the ``done`` frame's ``timings_ms``; the ratios export / disabled.
Prints a table, writes ``bench/results/observability.json``. Numbers, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.common import pct, timed
from mangaassist.common import spans as s
from mangaassist.devtools import slowdown
from mangaassist.devtools.cluster import Cluster

REPO = Path(__file__).resolve().parents[1]
ARMS: dict[str, dict[str, str]] = {
    # The SDK's default schedule (spans every 5 s, metrics every 60 s), as in AWS.
    "export": {"OTEL_BSP_SCHEDULE_DELAY": "5000", "OTEL_METRIC_EXPORT_INTERVAL": "60000"},
    # The local cluster's schedule (spans every 0.5 s, metrics every 1 s) for quick tests.
    "export-fast": {},
    "no-export": {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
    "disabled": {"OTEL_SDK_DISABLED": "true"},
}
HOPS = [
    s.REQUEST,
    s.INTENT,
    s.QUERY_EMBEDDING,
    s.VECTOR_SEARCH,
    s.PARALLEL_RETRIEVAL,
    s.BEDROCK_INVOKE,
    s.MODEL_INFERENCE,
]


async def run(clusters: dict[str, Cluster], queries: int) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {arm: {"e2e": [], **{h: [] for h in HOPS}} for arm in clusters}
    async with AsyncExitStack() as stack:
        sockets: dict[str, ClientConnection] = {
            arm: await stack.enter_async_context(connect(c.ws_url, compression=None)) for arm, c in clusters.items()
        }
        for arm, ws in sockets.items():  # warm every path (channels, caches, lazy imports)
            for i, text in enumerate(slowdown.QUESTIONS):
                await timed(ws, text, f"warm-{arm}-{i}")
        order = list(sockets)
        for i in range(queries):
            text = slowdown.QUESTIONS[i % len(slowdown.QUESTIONS)]
            for arm in order[i % len(order) :] + order[: i % len(order)]:  # rotate who goes first
                ms, frame = await timed(sockets[arm], text, f"{arm}-{i}")
                if frame["type"] != "done":
                    continue
                samples[arm]["e2e"].append(ms)
                for hop in HOPS:
                    if hop in frame["timings_ms"]:
                        samples[arm][hop].append(float(frame["timings_ms"][hop]))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=300, help="questions per arm")
    args = parser.parse_args()
    base_env = {"MANGAASSIST_RETRIEVAL_INDEX_DIR": str(REPO / ".cache" / "index"), **slowdown.DRILL_ENV}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as logs, ExitStack() as stack:
        clusters = {}
        for arm, env in ARMS.items():
            clusters[arm] = stack.enter_context(Cluster(env={**base_env, **env}, log_dir=Path(logs) / arm))
        samples = asyncio.run(run(clusters, args.queries))
    table: dict[str, dict[str, dict[str, float]]] = {}
    for metric in ["e2e", *HOPS]:
        table[metric] = {
            arm: {
                "p50": pct(samples[arm][metric], 50),
                "p95": pct(samples[arm][metric], 95),
                "n": len(samples[arm][metric]),
            }
            for arm in ARMS
        }
        for q in ("p50", "p95"):
            table[metric][f"ratio_{q}"] = {
                f"{arm}/disabled": table[metric][arm][q] / table[metric]["disabled"][q]
                for arm in ARMS
                if arm != "disabled"
            }
    print(f"\n{args.queries} questions per arm, interleaved (ms)\n")
    print("| measure | " + " | ".join(f"{a} p50 / p95" for a in ARMS) + " | export ÷ disabled p50 / p95 |")
    print("|---|" + "---:|" * (len(ARMS) + 1))
    for metric, row in table.items():
        cells = " | ".join(f"{row[a]['p50']:.2f} / {row[a]['p95']:.2f}" for a in ARMS)
        ratio = f"{row['ratio_p50']['export/disabled']:.3f} / {row['ratio_p95']['export/disabled']:.3f}"
        print(f"| {'end to end (client)' if metric == 'e2e' else metric} | {cells} | {ratio} |")
    overhead = 100 * (table["e2e"]["ratio_p95"]["export/disabled"] - 1)
    print(f"\ntracing + metrics overhead on end-to-end p95 (export vs SDK disabled): {overhead:+.1f} %")
    result: dict[str, Any] = {
        "queries_per_arm": args.queries,
        "arms": ARMS,
        "table": table,
        "e2e_p95_overhead_pct": overhead,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = REPO / "bench" / "results" / "observability.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
