"""Counters every cache keeps (hits per tier, misses, guard rejections, stores, errors)."""

from __future__ import annotations

from collections import Counter

COUNTERS = (
    "exact_hit",
    "exact_miss",
    "semantic_hit",
    "semantic_miss",
    "guard_reject",
    "uncacheable",
    "stored",
    "store_skipped",
    "store_stale",
    "evicted",
    "invalidated",
    "errors",
    "breaker_open",
)


class CacheStats:
    def __init__(self) -> None:
        self._c: Counter[str] = Counter({name: 0 for name in COUNTERS})

    def inc(self, name: str, n: int = 1) -> None:
        self._c[name] += n

    def snapshot(self) -> dict[str, int]:
        return dict(self._c)
