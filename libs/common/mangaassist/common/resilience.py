"""Circuit breakers and bulkheads for async downstream calls.

Why our own breaker: the Python async breakers we could use count consecutive failures
only (pybreaker, aiobreaker, fabfuel's circuitbreaker); our policy
(docs/decisions/0008-budgets-pools-breakers.md) needs failures *within a time window*
(count and rate), slow calls, and a half-open state that lets a bounded fraction of calls
through as probes. This module is that, small:

* closed → open when, within ``window_s``, failures reach ``failure_threshold``, or the
  failure rate or slow-call rate reaches its limit over at least ``min_calls`` calls;
* open → half-open after ``cooldown_s``; open calls fail fast without touching the network;
* half-open admits a call as a probe when no probe is in flight, or while fewer than
  ``probe_fraction`` of the calls seen since half-opening were admitted; so under load at
  most that fraction reaches the recovering service, and a lone caller is not starved.
  It closes after ``recovery_successes`` consecutive probe successes and reopens on any
  probe failure.

The clock is injectable so tests drive every transition deterministically.

A ``Bulkhead`` caps concurrent calls to one downstream with a bounded wait queue, so a
slow dependency can only tie up its own share of the process (thread-pool bulkheads, as
async concurrency limits; the sizes are in docs/decisions/0008-budgets-pools-breakers.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class BreakerOpenError(Exception):
    """The breaker refused the call (open, or half-open and not chosen as a probe)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"circuit for {name} is open")
        self.name = name


class BulkheadFullError(Exception):
    """No slot freed up in time: the downstream already has its share of calls in flight."""

    def __init__(self, name: str) -> None:
        super().__init__(f"too many concurrent calls to {name}")
        self.name = name


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int
    window_s: float
    cooldown_s: float
    recovery_successes: int
    failure_rate: float = 0.5
    min_calls: int = 10
    slow_call_s: float | None = None
    slow_rate: float = 0.8
    probe_fraction: float = 0.2


# Threshold in window / cooldown / recovery probes per downstream (docs/decisions/0008-budgets-pools-breakers.md).
PRESETS: dict[str, BreakerConfig] = {
    "bedrock": BreakerConfig(failure_threshold=5, window_s=30, cooldown_s=15, recovery_successes=3),
    "opensearch": BreakerConfig(failure_threshold=3, window_s=20, cooldown_s=10, recovery_successes=2),
    "dynamodb": BreakerConfig(failure_threshold=5, window_s=30, cooldown_s=10, recovery_successes=3),
    "redis": BreakerConfig(failure_threshold=3, window_s=10, cooldown_s=5, recovery_successes=2),
}


@dataclass
class BreakerStats:
    calls: int = 0
    failures: int = 0
    rejected: int = 0
    transitions: dict[str, int] = field(default_factory=dict)


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        config: BreakerConfig,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._on_change = on_change
        self._state = CLOSED
        self._window: deque[tuple[float, bool, bool]] = deque()  # (time, failed, slow)
        self._failures = 0  # running counts over the window, so recording is O(1)
        self._slows = 0
        self._opened_at = 0.0
        self._probe_attempts = 0
        self._probe_admitted = 0
        self._probe_successes = 0
        self._probe_finished = 0
        self.stats = BreakerStats()

    @property
    def state(self) -> str:
        """Current state; an open breaker whose cooldown has passed reads as half-open."""
        if self._state == OPEN and self._clock() - self._opened_at >= self.config.cooldown_s:
            self._transition(HALF_OPEN)
        return self._state

    def _transition(self, new: str) -> None:
        old, self._state = self._state, new
        self.stats.transitions[new] = self.stats.transitions.get(new, 0) + 1
        if new == OPEN:
            self._opened_at = self._clock()
        if new == HALF_OPEN:
            self._probe_attempts = self._probe_admitted = self._probe_finished = self._probe_successes = 0
        if new == CLOSED:
            self._window.clear()
            self._failures = self._slows = 0
        logger.warning("circuit %s: %s -> %s", self.name, old, new, extra={"breaker": self.name, "state": new})
        if self._on_change is not None:
            self._on_change(self.name, old, new)

    def allow(self) -> bool:
        """Whether a call may go ahead now. A refused call is counted and must fail fast."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN:
            self._probe_attempts += 1
            in_flight = self._probe_admitted - self._probe_finished
            if in_flight == 0 or self._probe_admitted < self.config.probe_fraction * self._probe_attempts:
                self._probe_admitted += 1
                return True
        self.stats.rejected += 1
        return False

    def record(self, ok: bool, duration_s: float = 0.0) -> None:
        """Report the outcome of an admitted call."""
        self.stats.calls += 1
        if not ok:
            self.stats.failures += 1
        state = self.state
        if state == HALF_OPEN:
            self._probe_finished += 1
            if not ok:
                self._transition(OPEN)
                return
            self._probe_successes += 1
            if self._probe_successes >= self.config.recovery_successes:
                self._transition(CLOSED)
            return
        if state == OPEN:
            return  # a straggler admitted before the breaker opened
        now = self._clock()
        slow = self.config.slow_call_s is not None and duration_s >= self.config.slow_call_s
        self._window.append((now, not ok, slow))
        self._failures += not ok
        self._slows += slow
        while self._window and now - self._window[0][0] > self.config.window_s:
            _, old_failed, old_slow = self._window.popleft()
            self._failures -= old_failed
            self._slows -= old_slow
        calls, failures, slows = len(self._window), self._failures, self._slows
        c = self.config
        if (
            failures >= c.failure_threshold
            or (calls >= c.min_calls and failures / calls >= c.failure_rate)
            or (c.slow_call_s is not None and calls >= c.min_calls and slows / calls >= c.slow_rate)
        ):
            self._transition(OPEN)

    def probe_now(self) -> None:
        """End an open breaker's cool-down early (the downstream was seen back, e.g. its
        health check serving again): half-open at once, so probes may close it."""
        if self.state == OPEN:
            self._transition(HALF_OPEN)

    def release(self) -> None:
        """An admitted call ended without an outcome (cancelled by its caller)."""
        if self._state == HALF_OPEN and self._probe_finished < self._probe_admitted:
            self._probe_finished += 1

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state,
            "calls": self.stats.calls,
            "failures": self.stats.failures,
            "rejected": self.stats.rejected,
            "transitions": dict(self.stats.transitions),
        }


class Bulkhead:
    """At most ``limit`` concurrent calls; up to ``max_queue`` more wait ≤ ``max_wait_s``."""

    def __init__(self, name: str, limit: int, max_queue: int, max_wait_s: float) -> None:
        self.name = name
        self.limit = limit
        self._sem = asyncio.Semaphore(limit)
        self._max_queue = max_queue
        self._max_wait = max_wait_s
        self.waiting = 0
        self.active = 0
        self.rejected = 0

    async def __aenter__(self) -> Bulkhead:
        if self._sem.locked():
            if self.waiting >= self._max_queue:
                self.rejected += 1
                raise BulkheadFullError(self.name)
            self.waiting += 1
            try:
                await asyncio.wait_for(self._sem.acquire(), self._max_wait)
            except TimeoutError:
                self.rejected += 1
                raise BulkheadFullError(self.name) from None
            finally:
                self.waiting -= 1
        else:
            await self._sem.acquire()
        self.active += 1
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.active -= 1
        self._sem.release()

    def snapshot(self) -> dict[str, object]:
        return {"limit": self.limit, "active": self.active, "waiting": self.waiting, "rejected": self.rejected}
