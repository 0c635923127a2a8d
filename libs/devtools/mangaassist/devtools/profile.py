"""``make profile``: drive a mixed workload through the running mesh and write a latency report.

Needs the cluster from ``make up``. Sends a JP/EN query mix over every intent (repeats
included, so later caches get hits) from a few concurrent WebSocket sessions, collects
each ``done`` frame's per-segment timings and the spans the services exported to the
local trace receiver, then writes ``reports/profile-<time>/report.md`` with the
waterfall picture (``waterfall.png``: the critical path at p50 and p95, as a Gantt
chart), the per-segment table against the budgets, the bottleneck, violations and
the comparison with the saved baseline. The last line printed is the report's path.

    python -m mangaassist.devtools.profile [--queries 300] [--concurrency 8] [--save-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from tqdm import tqdm
from websockets.asyncio.client import connect

from mangaassist.common import spans as s
from mangaassist.observability.budgets import BUDGETS, analyze, records_from_spans, regressions

BASELINE = Path("bench/results/profile-baseline.json")
WORKLOAD = [
    "おすすめのダークファンタジーは？",
    "Recommend a sports manga for a 12 year old",
    "ワンピースの1巻はありますか",
    "Do you have Vinland Saga in English?",
    "2000円以下の恋愛マンガ",
    "Is Frieren finished?",
    "送料はいくらですか",
    "Can I pay with PayPay?",
    "返品の方法を教えてください",
    "こんにちは",
    "hello!",
    "Where is my order 123-4567890-1234567?",
    "鬼滅の刃とチェンソーマンならどっちがおすすめ？",
    "パスワードを忘れました",
    "I want to talk to a human",
    "What's the weather tomorrow?",
    "Something like Monster but cheaper",
    "料理マンガでおすすめは？",
]


async def drive(url: str, total: int, concurrency: int) -> list[dict[str, float]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    records: list[dict[str, float]] = []
    bar = tqdm(total=total, desc="profiling", unit="q")

    async def worker() -> None:
        async with connect(url, compression=None) as ws:
            while not queue.empty():
                i = queue.get_nowait()
                await ws.send(
                    json.dumps(
                        {"type": "query", "request_id": f"p{i}", "text": WORKLOAD[i % len(WORKLOAD)]},
                        ensure_ascii=False,
                    )
                )
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "done":
                        records.append({k: float(v) for k, v in frame["timings_ms"].items()})
                        break
                    if frame["type"] == "error":
                        break
                bar.update(1)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    bar.close()
    return records


PATH_ROWS = [  # (label, segment, parent on the critical path or None)
    (s.API_GATEWAY, s.API_GATEWAY, None),
    (s.VALIDATION, s.VALIDATION, None),
    (s.PARALLEL_RETRIEVAL, s.PARALLEL_RETRIEVAL, None),
    (f"  {s.VECTOR_SEARCH}", s.VECTOR_SEARCH, s.PARALLEL_RETRIEVAL),
    (f"  {s.SESSION_LOAD}", s.SESSION_LOAD, s.PARALLEL_RETRIEVAL),
    (f"  {s.INTENT}", s.INTENT, s.PARALLEL_RETRIEVAL),
    (s.PROMPT_ASSEMBLY, s.PROMPT_ASSEMBLY, None),
    (s.BEDROCK_INVOKE, s.BEDROCK_INVOKE, None),
    (f"  {s.MODEL_INFERENCE} (first token)", s.MODEL_INFERENCE, s.BEDROCK_INVOKE),
    (f"  {s.RESPONSE_STREAMING}", s.RESPONSE_STREAMING, s.BEDROCK_INVOKE),
]


def waterfall(segments: dict[str, dict[str, float]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True)
    for ax, q in zip(axes, ("p50", "p95"), strict=True):
        start: dict[str, float] = {}
        cursor = 0.0
        labels = []
        for row, (label, seg, parent) in enumerate(PATH_ROWS):
            width = segments.get(seg, {}).get(q, 0.0)
            if parent is None:
                begin = cursor
                cursor += width
            else:
                begin = start.get(parent, 0.0)
                if seg == s.RESPONSE_STREAMING:
                    # Delivery cost is spread over the stream; draw it at the stream's end.
                    begin += max(0.0, segments.get(s.BEDROCK_INVOKE, {}).get(q, 0.0) - width)
            start[seg] = begin
            budget = BUDGETS.get(seg)
            over = budget is not None and width > budget.budget_ms * (1 + budget.alert_pct / 100)
            ax.barh(
                row, max(width, 0.05), left=begin, color="#e74c3c" if over else ("#3498db" if parent else "#ff9900")
            )
            ax.text(begin + width, row, f" {width:.1f}", va="center", fontsize=7)
            labels.append(label)
        ax.set_yticks(range(len(PATH_ROWS)), labels, fontsize=8)
        ax.set_xlabel("ms from frame arrival")
        ax.set_title(f"critical path at {q} (red: over budget + 20 %)")
    axes[0].invert_yaxis()  # shared y axis: first step on top
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fetch_spans(spans_url: str, since_ns: int) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{spans_url}?since_ns={since_ns}", timeout=5) as resp:
            spans: list[dict[str, Any]] = json.loads(resp.read())["spans"]
            return spans
    except OSError:
        return []


def report(records: list[dict[str, float]], spans: list[dict[str, Any]], out: Path, baseline: Path) -> Path:
    analysis = analyze(records)
    out.mkdir(parents=True, exist_ok=True)
    waterfall(analysis.segments, out / "waterfall.png")
    lines = [
        "# MangaAssist latency profile",
        "",
        f"{analysis.requests} answered requests; {len(spans)} spans received from the services "
        f"({len(records_from_spans(spans))} complete traces).",
        "",
        "![waterfall](waterfall.png)",
        "",
        f"**Bottleneck** (where the slowest 5 % of requests spend their time): `{analysis.bottleneck}` "
        f"({100 * analysis.bottleneck_share:.0f} % of their time).",
        "",
        f"**Violations** (p95 over budget by > 20 %): {', '.join(f'`{v}`' for v in analysis.violations) or 'none'}",
        "",
        "| segment | p50 ms | p95 ms | budget ms | p95 vs budget |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in analysis.segments.items():
        budget = f"{row['budget_ms']:.0f}" if "budget_ms" in row else ""
        over = f"{row['over_pct']:+.0f} %" if "over_pct" in row else ""
        lines.append(f"| {name} | {row['p50']:.2f} | {row['p95']:.2f} | {budget} | {over} |")
    if baseline.exists():
        base = json.loads(baseline.read_text())["records"]
        found = regressions(base, records)
        lines += ["", f"**Regressions vs baseline** ({len(base)} requests, bootstrap noise, 1 % family-wise):"]
        lines += [f"- `{n}`: p95 {r['baseline_p95']:.2f} → {r['current_p95']:.2f} ms" for n, r in found.items()]
        lines += [] if found else ["- none"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    (out / "profile.json").write_text(json.dumps({"analysis": analysis.as_dict(), "records": records}, indent=1))
    return out / "report.md"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    parser.add_argument("--spans-url", default="http://127.0.0.1:4319/spans")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", default=None)
    parser.add_argument("--save-baseline", action="store_true")
    args = parser.parse_args()
    since = time.time_ns()
    records = asyncio.run(drive(args.url, args.queries, args.concurrency))
    time.sleep(1.0)  # let the services' batch exporters flush
    spans = fetch_spans(args.spans_url, since)
    out = Path(args.out or f"reports/profile-{time.strftime('%Y%m%d-%H%M%S')}")
    path = report(records, spans, out, BASELINE)
    if args.save_baseline:
        BASELINE.parent.mkdir(parents=True, exist_ok=True)
        BASELINE.write_text(json.dumps({"records": records}) + "\n")
    print(path)


if __name__ == "__main__":
    main()
