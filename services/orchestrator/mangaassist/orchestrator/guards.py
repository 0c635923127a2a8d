"""One breaker + bulkhead per downstream, and the retry policy for idempotent calls.

Every outbound call of the pipeline goes through ``Guard.call()``: refused at once when
the downstream's breaker is open (no network touched), limited by its bulkhead, timed,
and its outcome recorded. Which errors count against a downstream is decided here, in
one place: timeouts and unavailability do; a request the downstream rejected as
invalid does not; a call we cancelled ourselves (a cache hit made it moot) is not
recorded at all, and neither is a timeout of a call that was *squeezed* — given less
than half its own time because the request had spent its budget before the call began
(queueing under load, a slow step upstream). That timeout says the request ran out of
time, not that the downstream failed; counting it let overload upstream open the model's
breaker and turn a few late answers into 15 s of refusals for every customer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import grpc
from opentelemetry import trace
from websockets.exceptions import ConnectionClosed

from mangaassist.common.resilience import PRESETS, BreakerConfig, BreakerOpenError, Bulkhead, CircuitBreaker
from mangaassist.orchestrator.outbox import SlowReaderError
from mangaassist.orchestrator.schema import ErrorCode, RequestError

T = TypeVar("T")

NOT_FAILURES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND})
TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE})

# Internal gRPC services have no row in the design's table; they get the OpenSearch row's
# shape with a 5-failure threshold (docs/decisions/0008-budgets-pools-breakers.md).
INTERNAL = BreakerConfig(failure_threshold=5, window_s=20, cooldown_s=10, recovery_successes=2)

# name -> (breaker preset, bulkhead limit): the sizes of decision 0008.
DOWNSTREAMS: dict[str, tuple[BreakerConfig, int]] = {
    "intent": (INTERNAL, 25),
    "retrieval": (PRESETS["opensearch"], 25),
    "inference:haiku": (PRESETS["bedrock"], 40),
    "inference:sonnet": (PRESETS["bedrock"], 40),
    "dynamodb": (PRESETS["dynamodb"], 20),
    "redis": (PRESETS["redis"], 15),
}


# Contract errors that say the downstream failed (as opposed to the client or its input).
DOWNSTREAM_FAULTS = frozenset(
    {ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.STREAM_INTERRUPTED, ErrorCode.INTERNAL, ErrorCode.RATE_LIMITED}
)


def is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(exc, RequestError):
        return exc.code is ErrorCode.TIMEOUT
    return isinstance(exc, TimeoutError)


def counts_as_failure(exc: BaseException) -> bool:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() not in NOT_FAILURES
    if isinstance(exc, SlowReaderError):
        return False  # the client's reader fell behind: nothing the downstream did
    if isinstance(exc, RequestError):
        return exc.code in DOWNSTREAM_FAULTS
    # The customer hanging up mid-stream says nothing about the downstream.
    return not isinstance(exc, asyncio.CancelledError | ConnectionClosed)


class Guard:
    def __init__(self, name: str, breaker: CircuitBreaker, bulkhead: Bulkhead) -> None:
        self.name = name
        self.breaker = breaker
        self.bulkhead = bulkhead

    @asynccontextmanager
    async def call(self, squeezed: bool = False) -> AsyncIterator[None]:
        """Admit one call (or raise ``BreakerOpenError`` / ``BulkheadFullError``) and record it.

        ``squeezed``: the request's remaining budget, not the call's own timeout, limits
        this call to under half of that timeout; its timeout is then not recorded.
        """
        if not self.breaker.allow():
            trace.get_current_span().set_attribute("breaker.rejected", self.name)
            raise BreakerOpenError(self.name)
        async with self.bulkhead:
            start = time.perf_counter()
            try:
                yield
            except asyncio.CancelledError:
                self.breaker.release()
                raise
            except BaseException as exc:
                if squeezed and is_timeout(exc):
                    self.breaker.release()
                else:
                    self.breaker.record(not counts_as_failure(exc), time.perf_counter() - start)
                raise
            self.breaker.record(True, time.perf_counter() - start)

    async def run(self, fn: Callable[[], Awaitable[T]], squeezed: bool = False) -> T:
        async with self.call(squeezed):
            return await fn()


class Guards:
    """The process's guards, built once from settings (presets overridable per name)."""

    def __init__(self, overrides: dict[str, dict[str, float]] | None = None, queue_wait_s: float = 0.25) -> None:
        self.by_name: dict[str, Guard] = {}
        for name, (preset, limit) in DOWNSTREAMS.items():
            family = name.split(":")[0]
            config = BreakerConfig(**{**preset.__dict__, **(overrides or {}).get(family, {})})
            self.by_name[name] = Guard(
                name, CircuitBreaker(name, config), Bulkhead(name, limit, max_queue=limit, max_wait_s=queue_wait_s)
            )

    def __getitem__(self, name: str) -> Guard:
        return self.by_name[name]

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {
            name: {"breaker": g.breaker.snapshot(), "bulkhead": g.bulkhead.snapshot()}
            for name, g in self.by_name.items()
        }


class RetryBudget:
    """Retries one request may spend across all its calls (no retry storms under outage)."""

    def __init__(self, retries: int) -> None:
        self.left = retries

    def take(self, exc: BaseException) -> bool:
        if isinstance(exc, grpc.aio.AioRpcError) and exc.code() in TRANSIENT and self.left > 0:
            self.left -= 1
            return True
        return False


# Idempotent calls: at most this many attempts, full jitter between them (attempt n waits up to
# min(MAX, BASE × 2ⁿ⁻¹) seconds).
IDEMPOTENT_ATTEMPTS = 3
IDEMPOTENT_BACKOFF_BASE_S = 0.02
IDEMPOTENT_BACKOFF_MAX_S = 0.2


async def idempotent(
    guard: Guard,
    budget: RetryBudget,
    fn: Callable[[], Awaitable[T]],
    squeezed: Callable[[], bool] = lambda: False,
) -> T:
    """Run an idempotent call through its guard, retrying transient failures with full jitter.

    The guard admits and records the call once, with the outcome of its last attempt: an
    attempt cut off by a crashed replica and answered by another on retry is not the
    downstream failing (with every attempt counted, the calls one crashed retrieval replica
    had in flight opened the service's breaker, and its cooldown refused every question).
    ``squeezed`` is asked when the call starts (see ``Guard.call``).

    A plain loop (it was tenacity's ``AsyncRetrying``, with the same policy): the first
    attempt, which nearly every call is, costs one await and no retry bookkeeping. As there,
    the request's budget is asked before the attempt count, so a transient failure of the
    last attempt spends a retry too."""
    async with guard.call(squeezed()):
        attempt = 1
        while True:
            try:
                return await fn()
            except BaseException as exc:
                if not budget.take(exc) or attempt >= IDEMPOTENT_ATTEMPTS:
                    raise
            await asyncio.sleep(
                random.uniform(0, min(IDEMPOTENT_BACKOFF_MAX_S, IDEMPOTENT_BACKOFF_BASE_S * 2 ** (attempt - 1)))
            )
            attempt += 1
