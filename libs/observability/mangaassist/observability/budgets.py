"""Latency budgets per segment (decision 0008's table, as data) and the analysis over them.

Input is a list of *request records*: segment name → wall milliseconds for one request
(from a ``done`` frame's ``timings_ms`` or from a trace's spans). Output: per-segment
p50/p95 against budget, violations (p95 above budget by more than the alert threshold),
the **bottleneck** — the segment that holds most of the time of the slowest 5 % of
requests along the critical path — and regressions against a baseline judged by
bootstrap noise rather than a fixed percentage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from mangaassist.common import spans as s

Record = Mapping[str, float]


@dataclass(frozen=True)
class Budget:
    segment: str
    budget_ms: float  # p95 target
    alert_pct: float = 20.0  # alarm when p95 exceeds the budget by more than this


# p95 targets per segment (docs/decisions/0008-budgets-pools-breakers.md).
BUDGETS: dict[str, Budget] = {
    b.segment: b
    for b in (
        Budget(s.REQUEST, 2000),
        Budget(s.API_GATEWAY, 25),
        Budget(s.VALIDATION, 1),
        Budget(s.INTENT, 5),
        Budget(s.CACHE_LOOKUP, 3),
        Budget(s.SESSION_LOAD, 8),
        Budget(s.VECTOR_SEARCH, 150),
        Budget(s.PARALLEL_RETRIEVAL, 150),
        Budget(s.PROMPT_ASSEMBLY, 5),
        Budget(s.BEDROCK_INVOKE, 800),
        Budget(s.MODEL_INFERENCE, 780),
        Budget(s.GUARDRAILS, 40),
        Budget(s.RESPONSE_STREAMING, 15),
        Budget(s.CACHE_WRITE, 5),
        Budget(s.SESSION_UPDATE, 8),
        Budget(s.ANALYTICS_EMIT, 2),
    )
}

# Sequential, non-overlapping steps from frame arrival to the last token. The parallel
# step is blamed on its slower branch (vector search, or session load + classification).
CRITICAL_PATH = (s.API_GATEWAY, s.VALIDATION, s.PARALLEL_RETRIEVAL, s.PROMPT_ASSEMBLY, s.BEDROCK_INVOKE)


# The span tree (child -> parent; decision 0008), as the services emit it: a segment's time
# includes its children's, so a slowdown in a child also shows in every ancestor.
PARENT: dict[str, str] = {
    s.API_GATEWAY: s.REQUEST,
    s.ORCHESTRATOR: s.REQUEST,
    s.RESPONSE_STREAMING: s.REQUEST,
    s.VALIDATION: s.ORCHESTRATOR,
    s.INTENT: s.ORCHESTRATOR,
    s.CACHE_LOOKUP: s.ORCHESTRATOR,
    s.PARALLEL_RETRIEVAL: s.ORCHESTRATOR,
    s.PROMPT_ASSEMBLY: s.ORCHESTRATOR,
    s.BEDROCK_INVOKE: s.ORCHESTRATOR,
    s.ASYNC_POSTPROCESSING: s.ORCHESTRATOR,
    s.QUERY_EMBEDDING: s.PARALLEL_RETRIEVAL,
    s.VECTOR_SEARCH: s.PARALLEL_RETRIEVAL,
    s.SESSION_LOAD: s.PARALLEL_RETRIEVAL,
    s.MODEL_INFERENCE: s.BEDROCK_INVOKE,
    s.GUARDRAILS: s.BEDROCK_INVOKE,
    s.REQUEST_SERIALIZATION: s.BEDROCK_INVOKE,
    s.NETWORK_TRANSIT: s.BEDROCK_INVOKE,
    s.RESPONSE_DESERIALIZATION: s.BEDROCK_INVOKE,
    s.CACHE_WRITE: s.ASYNC_POSTPROCESSING,
    s.SESSION_UPDATE: s.ASYNC_POSTPROCESSING,
    s.ANALYTICS_EMIT: s.ASYNC_POSTPROCESSING,
}


# Siblings in the span tree whose wall time still contains the other's: the orchestrator's
# parallel block awaits the classification (which reads the embedding made inside it), so a
# slower classification also lengthens parallel-data-retrieval, which only carries it.
WAITS_FOR: dict[str, str] = {s.INTENT: s.PARALLEL_RETRIEVAL}


def ancestors(segment: str) -> set[str]:
    out: set[str] = set()
    while segment in PARENT:
        segment = PARENT[segment]
        out.add(segment)
    return out


def p(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def attribute(record: Record) -> dict[str, float]:
    """Split one request's time over critical-path segments (plus ``other``)."""
    out: dict[str, float] = {}
    for segment in CRITICAL_PATH:
        ms = record.get(segment, 0.0)
        if segment == s.PARALLEL_RETRIEVAL and ms:
            search = record.get(s.VECTOR_SEARCH, 0.0)
            control = record.get(s.SESSION_LOAD, 0.0) + record.get(s.INTENT, 0.0)
            segment = (
                s.VECTOR_SEARCH
                if search >= control
                else (s.INTENT if record.get(s.INTENT, 0.0) >= record.get(s.SESSION_LOAD, 0.0) else s.SESSION_LOAD)
            )
        out[segment] = out.get(segment, 0.0) + ms
    total = record.get(s.REQUEST, sum(out.values()))
    out["other"] = max(0.0, total - sum(out.values()))
    return out


@dataclass
class Analysis:
    segments: dict[str, dict[str, float]]
    violations: list[str]
    bottleneck: str | None
    bottleneck_share: float
    requests: int
    # Set by the detector when recent windows are known: the segment that got slower.
    slowdown: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "segments": self.segments,
            "violations": self.violations,
            "bottleneck": self.bottleneck,
            "bottleneck_share": self.bottleneck_share,
            "slowdown": self.slowdown,
        }


def analyze(records: Sequence[Record], budgets: Mapping[str, Budget] = BUDGETS, tail: float = 0.05) -> Analysis:
    by_segment: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for name, ms in r.items():
            by_segment[name].append(float(ms))
    segments: dict[str, dict[str, float]] = {}
    violations = []
    for name, values in sorted(by_segment.items()):
        row = {"p50": p(values, 50), "p95": p(values, 95), "n": float(len(values))}
        budget = budgets.get(name)
        if budget is not None:
            row["budget_ms"] = budget.budget_ms
            row["over_pct"] = 100.0 * (row["p95"] - budget.budget_ms) / budget.budget_ms
            if row["over_pct"] > budget.alert_pct:
                violations.append(name)
        segments[name] = row
    bottleneck, share = None, 0.0
    if records:
        slow = sorted(records, key=lambda r: r.get(s.REQUEST, 0.0), reverse=True)
        slow = slow[: max(1, round(len(slow) * tail))]
        blame: dict[str, float] = defaultdict(float)
        for r in slow:
            for name, ms in attribute(r).items():
                blame[name] += ms
        blame.pop("other", None)
        total = sum(attribute(r).get("other", 0.0) for r in slow) + sum(blame.values())
        if blame:
            bottleneck = max(blame, key=lambda k: blame[k])
            share = blame[bottleneck] / total if total else 0.0
    return Analysis(segments, violations, bottleneck, share, len(records))


def regressions(
    baseline: Sequence[Record],
    current: Sequence[Record],
    *,
    resamples: int = 2000,
    alpha: float = 0.01,
    seed: int = 0,
    q: float = 95.0,
    drift_sd: Mapping[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """Segments whose p95 (or ``q``-th percentile) grew beyond run-to-run noise.

    For each segment, bootstrap both runs' p95 and look at the distribution of the
    difference; a segment regressed when even the low end of its (1 - alpha) interval,
    Bonferroni-corrected over the segments compared, is above zero. The noise estimate
    comes from the data of both runs, so a noisy segment needs a larger shift to alarm.
    ``drift_sd`` (ms per segment) adds the spread seen *between* unchanged runs — load on
    a shared machine moves whole windows, which resampling within one window cannot see.
    """
    rng = np.random.default_rng(seed)
    names = sorted({k for r in baseline for k in r} & {k for r in current for k in r})
    z = NormalDist().inv_cdf(1 - alpha / max(1, len(names)))
    found: dict[str, dict[str, float]] = {}
    for name in names:
        a = np.array([r[name] for r in baseline if name in r], dtype=float)
        b = np.array([r[name] for r in current if name in r], dtype=float)
        if len(a) < 20 or len(b) < 20:
            continue
        boot_a = np.percentile(rng.choice(a, (resamples, len(a))), q, axis=1)
        boot_b = np.percentile(rng.choice(b, (resamples, len(b))), q, axis=1)
        diff = boot_b - boot_a
        # Normal interval on the bootstrap distribution: stable far into the tail, where an
        # empirical quantile of a few thousand resamples would be a handful of points.
        sd = float(np.hypot(diff.std(ddof=1), (drift_sd or {}).get(name, 0.0)))
        low = float(diff.mean() - z * sd)
        if low > 0:
            found[name] = {
                "baseline_p95": float(np.percentile(a, 95)),
                "current_p95": float(np.percentile(b, 95)),
                "baseline_q": float(np.percentile(a, q)),
                "current_q": float(np.percentile(b, q)),
                "increase_low_ms": low,
            }
    return found


def records_from_spans(spans: Iterable[Mapping[str, Any]]) -> list[dict[str, float]]:
    """Request records from exported spans: one per trace that has a root request span."""
    traces: dict[str, dict[str, float]] = defaultdict(dict)
    for span in spans:
        ms = (int(span["end_ns"]) - int(span["start_ns"])) / 1e6
        record = traces[str(span["trace_id"])]
        # A client span and its server span share a name; the client's encloses the server's.
        record[str(span["name"])] = max(record.get(str(span["name"]), 0.0), ms)
    return [r for r in traces.values() if s.REQUEST in r]


# Work done after the answer has been sent (session and cache writes): it cannot make an
# answer slower, so a change there is reported apart and never blamed for a slowdown.
AFTER_ANSWER: frozenset[str] = frozenset(
    name
    for name in {*PARENT, *PARENT.values()}
    if name == s.ASYNC_POSTPROCESSING or s.ASYNC_POSTPROCESSING in ancestors(name)
)


@dataclass
class Blame:
    """Which segment a latency change is blamed on, and the regressions behind it
    (request path; ``after_answer`` holds those of the post-answer work)."""

    segment: str | None
    regressions: dict[str, dict[str, float]]
    after_answer: dict[str, dict[str, float]]

    @property
    def alarm(self) -> bool:
        return bool(self.regressions)


def window_drift(windows: Sequence[Sequence[Record]], q: float = 50.0) -> dict[str, float]:
    """Per segment, the standard deviation of the ``q``-th percentile across unchanged
    windows (needs ≥ 2): the run-to-run noise that resampling one window misses."""
    names = {k for w in windows for r in w for k in r}
    out: dict[str, float] = {}
    for name in names:
        values = [p([r[name] for r in w if name in r], q) for w in windows]
        values = [v for v in values if v == v]  # windows without the segment give NaN
        if len(values) >= 2:
            out[name] = float(np.std(values, ddof=1))
    return out


def blame(
    baseline: Sequence[Sequence[Record]],
    current: Sequence[Record],
    *,
    q: float = 50.0,
    min_ratio: float = 1.5,
    **kwargs: Any,
) -> Blame:
    """Name the segment that got slower between unchanged ``baseline`` windows (≥ 1; with
    ≥ 2 their spread counts as noise too) and the ``current`` window (``None`` if nothing did).

    Segments whose median (``q``) grew beyond noise (``regressions``: bootstrap of both
    runs plus the spread between the baseline windows) are candidates — the median, because
    a slowdown shifts every request while a p95 from a window of a few dozen requests is
    mostly noise on a shared machine. A regression must also be material: the current
    median at least ``min_ratio`` × the baseline's, because load from other work on a shared
    machine shifts whole windows by 10-40 % at times, a drift no resampling of past windows
    predicts (the drills inject 3×). An ancestor of another candidate is only carrying its
    child's slowdown (its time contains the child's), so it is dropped; of the rest, the
    largest sure increase wins. Segments of the work after the answer (``AFTER_ANSWER``)
    are reported apart, never blamed.
    """
    pooled = [r for w in baseline for r in w]
    everything = {
        name: row
        for name, row in regressions(pooled, current, q=q, drift_sd=window_drift(baseline, q), **kwargs).items()
        if row["current_q"] >= min_ratio * row["baseline_q"]
    }
    # Only the contract's segments are named: finer spans (a gRPC client span inside
    # intent-classification) are how a segment spends its time, not segments of their own.
    found = {k: v for k, v in everything.items() if k not in AFTER_ANSWER and (k in PARENT or k in BUDGETS)}
    after = {k: v for k, v in everything.items() if k in AFTER_ANSWER}
    covering = {a for name in found for a in ancestors(name)} | {WAITS_FOR[n] for n in found if n in WAITS_FOR}
    leaves = [name for name in found if name not in covering]
    if not leaves:
        return Blame(None, found, after)
    return Blame(max(leaves, key=lambda n: found[n]["increase_low_ms"]), found, after)
