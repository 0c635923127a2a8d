"""Circuit breaker state machine on a fake clock; bulkhead limits."""

from __future__ import annotations

import asyncio

import pytest

from mangaassist.common.resilience import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    PRESETS,
    BreakerConfig,
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
)


class FakeClock:
    """Unit-test clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(**overrides: object) -> tuple[CircuitBreaker, FakeClock, list[tuple[str, str]]]:
    clock = FakeClock()
    changes: list[tuple[str, str]] = []
    config = BreakerConfig(**{**PRESETS["bedrock"].__dict__, **overrides})
    b = CircuitBreaker("fm", config, clock=clock, on_change=lambda _n, old, new: changes.append((old, new)))
    return b, clock, changes


def test_opens_on_failure_count_within_the_window_only() -> None:
    b, clock, _ = breaker()
    for _ in range(4):
        assert b.allow()
        b.record(False)
        clock.now += 10  # 4 failures over 40 s: never 5 within 30 s
    assert b.state == CLOSED
    for _ in range(5):
        b.record(False)
    assert b.state == OPEN


def test_opens_on_failure_rate_and_on_slow_calls() -> None:
    b, _, _ = breaker(failure_threshold=100, min_calls=10, failure_rate=0.5)
    for i in range(10):
        b.record(i % 2 == 0)
    assert b.state == OPEN
    slow, _, _ = breaker(failure_threshold=100, min_calls=4, slow_call_s=1.0, slow_rate=0.75)
    for duration in (2.0, 2.0, 0.1, 2.0):
        slow.record(True, duration)
    assert slow.state == OPEN


def test_open_fails_fast_then_half_opens_after_cooldown() -> None:
    b, clock, changes = breaker()
    for _ in range(5):
        b.record(False)
    assert not b.allow() and b.stats.rejected == 1
    clock.now += 14.9
    assert b.state == OPEN and not b.allow()
    clock.now += 0.2
    assert b.state == HALF_OPEN
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_half_open_admits_a_bounded_fraction_as_probes() -> None:
    b, clock, _ = breaker()
    for _ in range(5):
        b.record(False)
    clock.now += 15
    admitted = sum(b.allow() for _ in range(100))
    assert admitted == 20  # the 20 % probe fraction, first call included


def test_half_open_closes_after_consecutive_successes_and_reopens_on_failure() -> None:
    b, clock, changes = breaker()
    for _ in range(5):
        b.record(False)
    clock.now += 15
    assert b.allow()
    b.record(True)
    b.record(True)
    assert b.state == HALF_OPEN
    b.record(True)
    assert b.state == CLOSED
    for _ in range(5):
        b.record(False)
    clock.now += 15
    assert b.allow()
    b.record(False)
    assert b.state == OPEN
    assert changes[-2:] == [(OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]


def test_a_lone_sequential_caller_probes_every_call_and_recovers_quickly() -> None:
    b, clock, _ = breaker()
    for _ in range(5):
        b.record(False)
    clock.now += 15
    for _ in range(3):
        assert b.allow()
        b.record(True)
    assert b.state == CLOSED


async def test_concurrent_calls_during_half_open() -> None:
    b, clock, _ = breaker(recovery_successes=2)
    for _ in range(5):
        b.record(False)
    clock.now += 15

    async def call() -> bool:
        if not b.allow():
            return False
        await asyncio.sleep(0.01)
        b.record(True)
        return True

    results = await asyncio.gather(*(call() for _ in range(10)))
    assert sum(results) == 2 and b.state == CLOSED


async def test_bulkhead_limits_concurrency_and_bounds_the_queue() -> None:
    bulkhead = Bulkhead("fm", limit=2, max_queue=1, max_wait_s=0.2)
    gate = asyncio.Event()
    peak = 0

    async def call() -> str:
        nonlocal peak
        try:
            async with bulkhead:
                peak = max(peak, bulkhead.active)
                await gate.wait()
                return "ok"
        except BulkheadFullError:
            return "full"

    tasks = [asyncio.create_task(call()) for _ in range(4)]
    await asyncio.sleep(0.05)
    assert [t.done() for t in tasks] == [False, False, False, True]  # 2 running, 1 queued, 1 refused
    gate.set()
    assert await asyncio.gather(*tasks) == ["ok", "ok", "ok", "full"] and peak == 2


async def test_bulkhead_queue_wait_is_bounded() -> None:
    bulkhead = Bulkhead("db", limit=1, max_queue=5, max_wait_s=0.05)
    async with bulkhead:
        with pytest.raises(BulkheadFullError):
            async with bulkhead:
                pass
    assert bulkhead.rejected == 1 and bulkhead.active == 0
