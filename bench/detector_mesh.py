"""The bottleneck detector on a real running mesh: inject a 3× slowdown into one segment,
see whether the detector names that segment; run unperturbed windows in between and count
false alarms.

    python -m bench.detector_mesh [--trials 10] [--window 40] [--concurrency 2]

One local cluster (real processes; semantic cache off so every question takes the whole
path). Three unperturbed baseline windows, then per trial, interleaved: an unperturbed
window (any regression flagged there is a false alarm; it then replaces the oldest
baseline window) and a window with one segment slowed by twice its baseline p50 (so
about 3× slower) — intent classification and query embedding /
vector search through their services' ``FAULT_DELAY_MS`` + ``FAULT_SEGMENTS``, the model's
first token through the Bedrock emulator's fault API — rotating over the four. Records come
from the spans the services exported to the local receiver, read by the detector's own
``ReceiverSource``; ``budgets.blame`` names the segment (median regressions beyond
bootstrap + between-window noise and at least 1.5× the baseline, ancestors dropped); the
same windows are also judged on the noise test alone, for comparison. Prints a table, writes ``bench/results/detector_mesh.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from mangaassist.devtools import slowdown
from mangaassist.devtools.cluster import Cluster
from mangaassist.observability.budgets import analyze, blame

REPO = Path(__file__).resolve().parents[1]
BASELINE_WINDOWS = 3


async def run(cluster: Cluster, trials: int, n: int, concurrency: int) -> dict[str, Any]:
    await slowdown.drive(cluster, len(slowdown.QUESTIONS), concurrency, "warm")
    # The recent unperturbed windows are the detector's notion of normal (their spread is
    # the run-to-run noise); each clean window joins them once it has been judged.
    history = [await slowdown.window(cluster, n, concurrency, f"base{i}") for i in range(BASELINE_WINDOWS)]
    rows = []
    for trial in range(trials):
        clean = await slowdown.window(cluster, n, concurrency, f"c{trial}")
        judged_against = history
        unchanged = blame(judged_against, clean)
        history = [*history[1 - BASELINE_WINDOWS :], clean]
        baseline = [r for w in history for r in w]
        segment = slowdown.TARGETS[trial % len(slowdown.TARGETS)]
        base_p50 = slowdown.p50(baseline, segment)
        delay = max(1.0, 2 * base_p50)
        await slowdown.inject(cluster, segment, delay)
        try:
            slowed = await slowdown.window(cluster, n, concurrency, f"s{trial}")
        finally:
            await slowdown.clear(cluster, segment)
        found = blame(history, slowed)
        # The same windows judged on noise alone (no 1.5× materiality floor), for comparison.
        noise_only = blame(history, slowed, min_ratio=1.0)
        noise_only_clean = blame(judged_against, clean, min_ratio=1.0)
        rows.append(
            {
                "trial": trial,
                "injected": segment,
                "delay_ms": round(delay, 2),
                "baseline_p50_ms": round(base_p50, 2),
                "slowed_p50_ms": round(slowdown.p50(slowed, segment), 2),
                "named": found.segment,
                "correct": found.segment == segment,
                "regressed": sorted(found.regressions),
                "tail_bottleneck": analyze(slowed).bottleneck,
                "clean_requests": len(clean),
                "slowed_requests": len(slowed),
                "false_alarm": unchanged.alarm,
                "clean_regressions": unchanged.regressions,
                "noise_only_correct": noise_only.segment == segment,
                "noise_only_false_alarm": noise_only_clean.alarm,
                "noise_only_clean_regressions": noise_only_clean.regressions,
            }
        )
        r = rows[-1]
        print(
            f"  trial {trial}: {segment:<22} +{delay:7.1f} ms  p50 {r['baseline_p50_ms']:7.2f} → "
            f"{r['slowed_p50_ms']:7.2f}  named {found.segment!s:<22} {'ok' if r['correct'] else 'WRONG'}  "
            f"clean window: {'ALARM ' + str(sorted(unchanged.regressions)) if unchanged.alarm else 'quiet'}"
            f"{'' if not noise_only_clean.alarm else ' (noise-only: ALARM ' + str(sorted(noise_only_clean.regressions)) + ')'}",
            flush=True,
        )
    return {
        "trials": trials,
        "window_requests": n,
        "baseline_windows": BASELINE_WINDOWS,
        "concurrency": concurrency,
        "named_correctly": sum(r["correct"] for r in rows),
        "false_alarms": sum(r["false_alarm"] for r in rows),
        "noise_only": {
            "named_correctly": sum(r["noise_only_correct"] for r in rows),
            "false_alarms": sum(r["noise_only_false_alarm"] for r in rows),
        },
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--window", type=int, default=40, help="requests per window (≥ 20)")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    env = {"MANGAASSIST_RETRIEVAL_INDEX_DIR": str(REPO / ".cache" / "index"), **slowdown.DRILL_ENV}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as logs, Cluster(env=env, log_dir=Path(logs)) as cluster:
        result = asyncio.run(run(cluster, args.trials, args.window, args.concurrency))
    result["seconds"] = round(time.perf_counter() - started, 1)
    print("\n| injected 3× slowdown | trials | named correctly | false alarms (unperturbed windows) |")
    print("|---|---:|---:|---:|")
    for segment in slowdown.TARGETS:
        rows = [r for r in result["rows"] if r["injected"] == segment]
        if rows:
            print(f"| {segment} | {len(rows)} | {sum(r['correct'] for r in rows)} | |")
    print(
        f"| **all** | {result['trials']} | **{result['named_correctly']} / {result['trials']}** | "
        f"**{result['false_alarms']} / {result['trials']}** |"
    )
    noise = result["noise_only"]
    print(
        f"| same windows, noise test only (no 1.5× floor) | {result['trials']} | "
        f"{noise['named_correctly']} / {result['trials']} | {noise['false_alarms']} / {result['trials']} |"
    )
    out = REPO / "bench" / "results" / "detector_mesh.json"
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out.relative_to(REPO)} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
