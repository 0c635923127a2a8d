"""Budgets analysis on synthetic request records (numbers drawn from seeded RNGs)."""

from __future__ import annotations

from collections import deque

import numpy as np

from mangaassist.common import spans as s
from mangaassist.observability.budgets import Record, analyze, blame, records_from_spans, regressions
from mangaassist.observability.detector import run_once


def synthetic(n: int, seed: int, slow: str | None = None, factor: float = 3.0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        r = {
            s.API_GATEWAY: rng.gamma(4, 0.5),
            s.VALIDATION: rng.gamma(2, 0.05),
            s.SESSION_LOAD: rng.gamma(4, 1.5),
            s.INTENT: rng.gamma(4, 0.6),
            s.VECTOR_SEARCH: rng.gamma(6, 8.0),
            s.PROMPT_ASSEMBLY: rng.gamma(3, 0.8),
            s.BEDROCK_INVOKE: rng.gamma(8, 40.0),
        }
        if slow:
            r[slow] *= factor * (1 + 0.5 * rng.random())
        r[s.PARALLEL_RETRIEVAL] = max(r[s.VECTOR_SEARCH], r[s.SESSION_LOAD] + r[s.INTENT])
        r[s.REQUEST] = sum(
            r[k] for k in (s.API_GATEWAY, s.VALIDATION, s.PARALLEL_RETRIEVAL, s.PROMPT_ASSEMBLY, s.BEDROCK_INVOKE)
        )
        out.append(r)
    return out


def test_bottleneck_is_where_the_slow_tail_spends_its_time() -> None:
    assert analyze(synthetic(400, 1)).bottleneck == s.BEDROCK_INVOKE


def test_an_injected_3x_slowdown_is_found_and_named_every_time() -> None:
    """A 3× slowdown of the vector search turns it into the tail's main cost, in 10 of 10 runs."""
    for seed in range(10):
        baseline, current = synthetic(300, seed), synthetic(300, seed + 100, slow=s.VECTOR_SEARCH)
        assert s.VECTOR_SEARCH in regressions(baseline, current, resamples=500), seed
        assert set(regressions(baseline, current, resamples=500)) <= {
            s.VECTOR_SEARCH,
            s.PARALLEL_RETRIEVAL,
            s.REQUEST,
        }, seed


def test_no_false_regressions_over_10_unchanged_runs() -> None:
    baseline = synthetic(300, 0)
    assert [regressions(baseline, synthetic(300, seed), resamples=500) for seed in range(1, 11)] == [{}] * 10


def test_violations_flag_segments_over_budget_by_more_than_20_percent() -> None:
    records = [{s.INTENT: 5.9, s.SESSION_LOAD: 10.0, s.REQUEST: 100.0}] * 30
    analysis = analyze(records)
    assert analysis.violations == [s.SESSION_LOAD]  # 8 ms budget: +25 %; intent 5 ms: +18 %
    assert round(analysis.segments[s.INTENT]["over_pct"]) == 18


def test_records_from_spans_keeps_the_enclosing_span_per_name() -> None:
    spans = [
        {"trace_id": "t", "name": s.REQUEST, "start_ns": 0, "end_ns": 50_000_000},
        {"trace_id": "t", "name": s.INTENT, "start_ns": 1_000_000, "end_ns": 4_000_000},  # client side
        {"trace_id": "t", "name": s.INTENT, "start_ns": 2_000_000, "end_ns": 3_000_000},  # server side
        {"trace_id": "orphan", "name": s.INTENT, "start_ns": 0, "end_ns": 1},
    ]
    assert records_from_spans(spans) == [{s.REQUEST: 50.0, s.INTENT: 3.0}]


def test_blame_names_the_slowed_segment_not_its_ancestors() -> None:
    """A slow child also slows its parents; the child is named, for every slowed segment."""
    for i, slow in enumerate([s.INTENT, s.VECTOR_SEARCH, s.SESSION_LOAD, s.BEDROCK_INVOKE]):
        found = blame([synthetic(150, i), synthetic(150, i + 20)], synthetic(300, i + 50, slow=slow))
        assert found.segment == slow, (slow, found.regressions)
        assert found.alarm
    unchanged = blame([synthetic(300, 7)], synthetic(300, 8))
    assert unchanged.segment is None and not unchanged.alarm


def test_drift_between_unchanged_windows_raises_the_bar() -> None:
    """A shift as large as the baseline windows' own spread is not a regression."""

    def shifted(seed: int, ms: float) -> list[dict[str, float]]:
        return [{**r, s.BEDROCK_INVOKE: r[s.BEDROCK_INVOKE] + ms} for r in synthetic(200, seed)]

    windows = [shifted(1, 0), shifted(2, 60), shifted(3, -40), shifted(4, 30)]
    assert s.BEDROCK_INVOKE in regressions([r for w in windows for r in w], shifted(5, 70), q=50)
    assert not blame(windows, shifted(5, 70)).alarm
    assert blame(windows, shifted(5, 400)).segment == s.BEDROCK_INVOKE


# The detector's slowdown check over its recent windows, with an in-memory trace source
# (a unit-test double standing in for the receiver / X-Ray; no sink).
class ListSource:
    """Unit-test double: hands out prepared windows in order."""

    def __init__(self, windows: list[list[dict[str, float]]]) -> None:
        self._windows = windows

    async def fetch(self, start: float, end: float) -> list[Record]:
        return list(self._windows.pop(0))


async def test_a_slowed_window_is_blamed_and_kept_out_of_history() -> None:
    windows = [synthetic(150, seed) for seed in range(3)]
    windows += [synthetic(150, 10, slow=s.VECTOR_SEARCH), synthetic(150, 11, slow=s.VECTOR_SEARCH), synthetic(150, 12)]
    source = ListSource(windows)
    history: deque[list[Record]] = deque(maxlen=3)
    results = [await run_once(source, None, 0, 1, history) for _ in range(6)]
    assert [r.slowdown for r in results] == [None, None, None, s.VECTOR_SEARCH, s.VECTOR_SEARCH, None]
    assert len(history) == 3  # the two slowed windows never became "normal"
