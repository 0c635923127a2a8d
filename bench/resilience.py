"""Resilience micro-benchmarks: what an open breaker and a full bulkhead cost a caller.

    python -m bench.resilience

Prints a table and writes ``bench/results/resilience.json``. Numbers, never pass/fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from mangaassist.common.resilience import BreakerOpenError, BulkheadFullError
from mangaassist.orchestrator.guards import Guards

RESULTS = Path(__file__).resolve().parent / "results"
N = 20_000


def stats_us(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1e6
    return {"p50_us": float(np.percentile(arr, 50)), "p95_us": float(np.percentile(arr, 95)), "n": len(samples)}


async def open_breaker_rejection() -> dict[str, float]:
    guard = Guards()["inference:sonnet"]
    for _ in range(guard.breaker.config.failure_threshold):
        guard.breaker.record(False)
    samples = []
    for _ in range(N):
        start = time.perf_counter()
        with contextlib.suppress(BreakerOpenError):
            async with guard.call():
                raise AssertionError("an open breaker must not admit calls")
        samples.append(time.perf_counter() - start)
    return stats_us(samples)


async def closed_guard_overhead() -> dict[str, float]:
    guard = Guards()["retrieval"]
    samples = []
    admitted = 0
    for _ in range(N):
        start = time.perf_counter()
        async with guard.call():
            admitted += 1
        samples.append(time.perf_counter() - start)
    assert admitted == N
    return stats_us(samples)


async def full_bulkhead_rejection() -> dict[str, float]:
    guard = Guards(queue_wait_s=10.0)["redis"]
    gate = asyncio.Event()

    async def hold() -> None:
        async with guard.call():
            await gate.wait()

    holders = [asyncio.create_task(hold()) for _ in range(guard.bulkhead.limit * 2)]  # fill slots and the queue
    await asyncio.sleep(0.01)
    samples = []
    for _ in range(2_000):
        start = time.perf_counter()
        with contextlib.suppress(BulkheadFullError):
            async with guard.call():
                raise AssertionError("a full bulkhead must not admit calls")
        samples.append(time.perf_counter() - start)
    gate.set()
    await asyncio.gather(*holders)
    return stats_us(samples)


async def main() -> dict[str, Any]:
    return {
        "open_breaker_rejection": await open_breaker_rejection(),
        "closed_guard_overhead": await closed_guard_overhead(),
        "full_bulkhead_rejection": await full_bulkhead_rejection(),
    }


if __name__ == "__main__":
    results = asyncio.run(main())
    print(f"{'what':<28}{'p50 µs':>10}{'p95 µs':>10}")
    for name, s in results.items():
        print(f"{name:<28}{s['p50_us']:>10.2f}{s['p95_us']:>10.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "resilience.json"
    out.write_text(
        json.dumps(
            {"benchmark": "resilience", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results},
            indent=2,
        )
        + "\n"
    )
    print(f"results written to bench/results/{out.name}")
