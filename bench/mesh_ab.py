"""Two local clusters side by side, one load level at a time on each in turn: what a change
does to each process's CPU per answered question, measured in one run.

    python -m bench.mesh_ab [--a-rev REV] [--a-env K=V,...] [--b-env K=V,...]
                            [--levels 1,16,32] [--questions 6] [--reps 2] [--out FILE]

Side A runs the code of git revision ``--a-rev`` (default ``HEAD``; exported with ``git
archive`` into a temporary directory and put first on the services' ``PYTHONPATH``), side B
the working tree; ``--a-env`` / ``--b-env`` add settings to one side (the same code with
another setting: ``--a-rev WORKTREE``). Both clusters are up for the whole run and the
levels alternate A B A B, so the box's other tenants load both sides alike; only one side
is under load at a time (the other idles: a few ms of CPU per second).

Per side and level, summed over the repetitions: CPU ms per answered question of each
process (``/proc/<pid>/stat``, as ``bench.mesh_load``), also above idle (each process's idle
rate, measured per side before the first level, times the level's wall time taken away);
the error rate; TTFT and end-to-end p50 / p95 over the answered questions. The B / A ratio
of CPU per answer is given per process. Writes ``bench/results/mesh_ab.json`` (or
``--out``); numbers, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.common import cluster_env
from bench.mesh_load import MESH, CpuMeter, judge
from bench.peers.load import closed_loop, settle, warm_up
from mangaassist.devtools.cluster import Cluster

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
WORKTREE = "WORKTREE"


def source_roots(root: Path) -> list[str]:
    """The package roots of a tree (what ``mangaassist-src.pth`` lists for the working tree) but
    ``libs/devtools``: the stand-ins (Redis, moto, the emulator, the trace receiver) are the
    working tree's on both sides, and find their binaries under its ``.tools``."""
    return sorted(
        str(p)
        for p in [*root.glob("libs/*"), *root.glob("services/*")]
        if (p / "mangaassist").is_dir() and p.name != "devtools"
    )


def export(rev: str, into: Path) -> Path:
    """``libs/`` and ``services/`` of ``rev`` under ``into``."""
    archive = subprocess.run(
        ["git", "archive", rev, "libs", "services"], cwd=REPO, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def parse_env(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",") if item)


async def idle_rates(cluster: Cluster, seconds: float) -> dict[str, float]:
    meter = CpuMeter(cluster)
    meter.start()
    await asyncio.sleep(seconds)
    return {name: used / seconds for name, used in meter.stop().items()}


def merge(rows: list[tuple[list[dict[str, Any]], float, dict[str, float]]], idle: dict[str, float]) -> dict[str, Any]:
    """One judgement over every repetition of a level on one side."""
    out = [r for records, _, _ in rows for r in records]
    wall = sum(w for _, w, _ in rows)
    cpu: dict[str, float] = {}
    for _, _, used in rows:
        for name, seconds in used.items():
            cpu[name] = cpu.get(name, 0.0) + seconds
    return judge(out, wall, cpu, idle)


async def measure(clusters: dict[str, Cluster], args: argparse.Namespace) -> dict[str, Any]:
    urls = {side: (c.ws_url, f"http://{c.address('admin')}/admin/status") for side, c in clusters.items()}
    for side, (url, status) in urls.items():
        print(f"warming side {side}", flush=True)
        await warm_up(url, print)
        await settle(url, status)
    idle = {}
    for side, cluster in clusters.items():
        idle[side] = await idle_rates(cluster, args.idle_seconds)
    levels = [int(x) for x in args.levels.split(",") if x]
    raw: dict[str, dict[int, list[Any]]] = {side: {n: [] for n in levels} for side in clusters}
    for rep in range(args.reps):
        for n in levels:
            for side, cluster in clusters.items():
                url, status = urls[side]
                await settle(url, status)
                meter = CpuMeter(cluster)
                meter.start()
                out, wall = await closed_loop(
                    url, n, args.questions, args.seed + 1000 * rep + n, (args.think[0], args.think[1])
                )
                raw[side][n].append((out, wall, meter.stop()))
                r = judge(out, wall, raw[side][n][-1][2], idle[side])
                print(
                    f"rep {rep + 1} {n:>3} sessions side {side}: errors {r['error_rate']:.1%}  "
                    f"orchestrator {r['cpu_ms_per_answer'].get('orchestrator', 0):.1f}  "
                    f"mesh {r['cpu_ms_per_answer']['mesh']:.1f} ms/answer",
                    flush=True,
                )
    report: dict[str, Any] = {
        "idle_cpu_ms_per_s": {
            side: {n: round(v * 1000, 2) for n, v in sorted(rates.items())} for side, rates in idle.items()
        },
        "levels": {},
    }
    for n in levels:
        sides = {side: merge(raw[side][n], idle[side]) for side in clusters}
        ratio = {}
        for name in (*MESH, "mesh", "bedrock_emulator", "aws", "client"):
            a = sides["A"]["cpu_ms_per_answer"].get(name, 0.0)
            b = sides["B"]["cpu_ms_per_answer"].get(name, 0.0)
            ratio[name] = round(b / a, 3) if a else None
        report["levels"][str(n)] = {"A": sides["A"], "B": sides["B"], "cpu_ratio_b_over_a": ratio}
        for side in ("A", "B"):
            r, above = sides[side], sides[side].get("cpu_ms_per_answer_above_idle", {})
            cpu = r["cpu_ms_per_answer"]
            print(
                f"{n:>3} sessions {side}: {r['answered']}/{r['questions']} errors {r['error_rate']:.2%}  "
                f"TTFT p50/p95 {r['ttft_p50_ms']:.0f}/{r['ttft_p95_ms']:.0f} ms  e2e p50/p95 "
                f"{r['e2e_p50_ms']:.0f}/{r['e2e_p95_ms']:.0f} ms  {r['token_frames_per_answer']:.1f} token frames/answer"
                f" | CPU ms/answer orch {cpu.get('orchestrator', 0):.1f} "
                f"(above idle {above.get('orchestrator', 0):.1f}), inf {cpu.get('inference', 0):.1f}, "
                f"ret {cpu.get('retrieval', 0):.1f}, int {cpu.get('intent', 0):.1f}, mesh {cpu['mesh']:.1f} "
                f"(above idle {above.get('mesh', 0):.1f}); emulator {cpu.get('bedrock_emulator', 0):.1f}, "
                f"moto {cpu.get('aws', 0):.1f}, client {cpu.get('client', 0):.1f}"
            )
        print(f"{n:>3} sessions B/A: " + ", ".join(f"{k} {v}" for k, v in ratio.items()), flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a-rev", default="HEAD", help=f"git revision of side A, or {WORKTREE}")
    parser.add_argument("--a-env", default="", help="settings for side A only: K=V,K=V")
    parser.add_argument("--b-env", default="", help="settings for side B (the working tree) only")
    parser.add_argument("--levels", default="1,16,32")
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--think", type=lambda s: tuple(float(x) for x in s.split(",")), default=(0.5, 1.5))
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, default=RESULTS / "mesh_ab.json")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    print(f"load average at start: {load_at_start:.2f} (the box is shared; numbers are noisy)")
    common = cluster_env()
    a_commit = ""
    with tempfile.TemporaryDirectory() as tmp:
        env_a = {**common, **parse_env(args.a_env)}
        if args.a_rev != WORKTREE:
            tree = export(args.a_rev, Path(tmp))
            env_a["PYTHONPATH"] = os.pathsep.join(source_roots(tree))
            a_commit = subprocess.run(
                ["git", "rev-parse", "--short", args.a_rev], cwd=REPO, capture_output=True, text=True
            ).stdout.strip()
        env_b = {**common, **parse_env(args.b_env)}
        with (
            Cluster(env=env_a, log_dir=Path(tmp) / "logs-a") as a,
            Cluster(env=env_b, log_dir=Path(tmp) / "logs-b") as b,
        ):
            result = uvloop.run(measure({"A": a, "B": b}, args))
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "libs", "services"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    report = {
        "benchmark": "mesh_ab",
        "note": args.note,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "A": {"code": args.a_rev if args.a_rev == WORKTREE else f"{args.a_rev} ({a_commit})", "env": args.a_env},
        "B": {
            "code": f"working tree at {head.stdout.strip()}{' (uncommitted changes)' if dirty else ''}",
            "env": args.b_env,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": round(load_at_start, 2),
            "shared_with_other_engineers": True,
        },
        "settings": {
            "levels": args.levels,
            "questions_per_session": args.questions,
            "think_s": list(args.think),
            "reps": args.reps,
            "seed": args.seed,
            "emulator_latency_profile": "default",
        },
        **result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
