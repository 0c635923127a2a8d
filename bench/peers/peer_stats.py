"""Small helpers the peer suites share: repetition summaries, pairwise ratios, environment, output.

Every published figure is a summary over repetitions: the median of the per-repetition
values with the min and max beside it. Ratios between two systems are computed per
repetition (A and B measured in the same, interleaved repetition) and then summarised,
so slow phases of the shared machine cancel out instead of landing on one side.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.peers.stats import cpu_model

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
CACHE_DIR = REPO / ".cache" / "bench-peers"
# Where the suites' figures go (BENCHMARKS.md links them from there).
PLOTS = REPO / "docs" / "bench"


def pct(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile, NaN for no samples."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def summary(values: Iterable[float], digits: int = 4) -> dict[str, float]:
    """``{"median", "min", "max", "n"}`` over the per-repetition values (NaN when empty)."""
    vals = [float(v) for v in values if v == v]  # drop NaN
    if not vals:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {
        "median": round(float(np.median(vals)), digits),
        "min": round(min(vals), digits),
        "max": round(max(vals), digits),
        "n": len(vals),
    }


def pair_ratios(a: Sequence[float], b: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Summary of ``a[i] / b[i]`` over repetitions ``i`` (each ratio from one interleaved repetition)."""
    if len(a) != len(b):
        raise ValueError("ratios need one value per repetition on both sides")
    return summary([x / y for x, y in zip(a, b, strict=True) if y > 0], digits)


def fmt(s: Mapping[str, float], digits: int = 2, unit: str = "") -> str:
    """``median (min–max)`` for a markdown cell."""
    if not s or s.get("n", 0) == 0:
        return "–"
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def interleaved(names: Sequence[str], rng: np.random.Generator) -> list[str]:
    """``names`` in a fresh random order (seeded by the caller), for one A/B/… round.

    A fixed rotation would keep cyclic neighbours adjacent forever, so a contender that
    shares memory with the one before it (the same index, the same query) would always
    find its caches warm; a shuffle gives every ordering its turn.
    """
    return [names[i] for i in rng.permutation(len(names))]


def versions(*dists: str) -> dict[str, str]:
    """Installed versions of the named distributions ("missing" when not installed)."""
    out: dict[str, str] = {}
    for d in dists:
        try:
            out[d] = importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            out[d] = "missing"
    return out


def environment() -> dict[str, Any]:
    """Where and when a result was measured."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=False
    )
    cpu = cpu_model()
    return {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit.stdout.strip(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def reproduce(module: str, result: Mapping[str, Any]) -> str:
    """The closing line of a suite's section: the command that made ``result`` and where it ran."""
    env = result["environment"]
    size = "" if result.get("quick", True) else " --full"
    return (
        f"Reproduce: `python -m {module}{size} --reps {result.get('reps', 3)}` (or the harness); measured "
        f"{env['measured_at']} on {env['cores']} cores (load {env['load_average_1m']})."
    )


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    """``bench/results/<name>.json`` (for the suites' standalone runs)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def standalone(
    name: str,
    doc: str | None,
    run: Callable[..., dict[str, Any]],
    markdown: Callable[[dict[str, Any], Path], str],
    plots_dir: Path = PLOTS,
) -> None:
    """``python -m bench.peers.<suite>``: quick by default; ``--full`` for the published sizes,
    ``--reps N``. Prints the suite's markdown and writes its result file."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else name)
    parser.add_argument("--full", action="store_true", help="the published sizes instead of QUICK")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    result = run(
        quick=not args.full, reps=args.reps, progress=lambda msg: print(f"[{name}] {msg}", file=sys.stderr, flush=True)
    )
    print(markdown(result, plots_dir))
    print(f"wrote {write_result(name, result)}", file=sys.stderr)
