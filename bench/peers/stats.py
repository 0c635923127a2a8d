"""Small, stable statistics shared by the peer suites.

Every published figure is a summary over repetitions (median with min and max beside
it); A-vs-B ratios are computed pair by pair (rep i of B over rep i of A, the two run
back to back) so slow drift of a shared machine cancels out of each ratio.
"""

from __future__ import annotations

import contextlib
import math
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np


class Summary(TypedDict):
    """A figure over repetitions: median, min, max and how many repetitions."""

    median: float
    min: float
    max: float
    n: int


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation), NaN for no samples."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else math.nan


def summary(values: Sequence[float]) -> Summary:
    """Median / min / max over repetitions (NaN-free values only; NaN when none)."""
    kept = [float(v) for v in values if not math.isnan(float(v))]
    if not kept:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    return {"median": float(np.median(kept)), "min": min(kept), "max": max(kept), "n": len(kept)}


def paired_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """``b[i] / a[i]`` for each repetition pair (NaN where ``a[i]`` is zero)."""
    if len(a) != len(b):
        raise ValueError(f"paired ratios need as many A as B repetitions ({len(a)} != {len(b)})")
    return [float(y) / float(x) if float(x) else math.nan for x, y in zip(a, b, strict=True)]


def ratio_summary(a: Sequence[float], b: Sequence[float]) -> Summary:
    """Summary of the pair-by-pair ratios ``b / a``."""
    return summary(paired_ratios(a, b))


def fmt(s: Summary, digits: int = 2, unit: str = "") -> str:
    """``median (min–max)`` for a table cell; ``n/a`` when nothing was measured."""
    if s["n"] == 0:
        return "n/a"
    if s["n"] == 1:
        return f"{s['median']:.{digits}f}{unit}"
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def cells(by: Mapping[str, Summary], *keys: str) -> list[str]:
    """Table cells: the summaries ``by[key]`` of ``keys``, in order."""
    return [fmt(by[key]) for key in keys]


def side_by_side(cell: Mapping[str, Any], a: str, b: str, between: str) -> list[str]:
    """Table cells comparing side ``a`` with side ``b``: at p50, then at p95, each side's
    summary and what is ``between`` them there (``ratio``, ``cost``: ``cell["ratio_p50"]``)."""
    return [fmt(s) for q in ("p50", "p95") for s in (cell[a][q], cell[b][q], cell[f"{between}_{q}"])]


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"
