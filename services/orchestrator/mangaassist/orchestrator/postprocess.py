"""After-response work (session updates, cache writes) off the critical path, never in its way.

Each job runs in a tracked background task. A failed attempt is retried with exponential
backoff and full jitter (tenacity). Retries are bounded twice: at most ``max_attempts``
attempts that reached the downstream and failed, and at most ``keep_s`` seconds in all. An
attempt that our own guard *refused* (the downstream's breaker open, its bulkhead full)
never reached it and says nothing new: it is deferred — waited out and tried again, counted
apart, not spent from the attempts — so a store that is away for a while gets its writes
when it returns instead of losing them to attempts burnt against the open breaker. An error
that no retry can fix (``permanent``: access denied, a missing table, a request the store
rejects, a session that belongs to someone else) fails at once. Every attempt has a
timeout, so a call that hangs cannot hold its slot. Jobs given the same ``key`` (one
conversation's turns) run one after another in submission order, so a conversation's
turns land in the order they were answered. The number of pending jobs is bounded: past
the bound, ``submit`` refuses the job at once (counted and logged) rather than make the
request wait, so nothing after ``done`` can hold a request. Draining stops retries and
cancels what is still running at its deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

logger = logging.getLogger(__name__)


@dataclass
class PostStats:
    submitted: int = 0
    succeeded: int = 0
    failed_attempts: int = 0  # attempts that raised (or timed out); retried when allowed
    abandoned: int = 0  # gave up after its last attempt, or at the drain deadline
    permanent: int = 0  # failed at once: an error no retry can fix
    refused: int = 0  # not taken: the queue was full
    deferred: int = 0  # attempts our guard refused (breaker open, bulkhead full): tried again later


def _never(exc: BaseException) -> bool:
    return False


@dataclass(frozen=True)
class _Schedule:
    """How long one job is tried: failed attempts that reached the store, one attempt's
    timeout, the longest wait between attempts, the longest a job is kept."""

    max_attempts: int
    attempt_timeout_s: float
    max_wait_s: float
    keep_s: float


@dataclass(frozen=True)
class _Failures:
    """How a failure is read: no retry can fix it (``permanent`` types or ``is_permanent``),
    or our own guard refused the attempt (``deferred``)."""

    permanent: tuple[type[BaseException], ...]
    is_permanent: Callable[[BaseException], bool]
    deferred: tuple[type[BaseException], ...]


class _DrainDeadline(stop_base):
    """Stop retrying once the post-processor's drain deadline has passed."""

    def __init__(self, post: PostProcessor) -> None:
        self._post = post

    def __call__(self, retry_state: RetryCallState) -> bool:
        give_up_at = self._post.give_up_at
        return give_up_at is not None and time.monotonic() >= give_up_at


class _AttemptsFailed(stop_base):
    """Stop once ``limit`` attempts that reached the downstream have failed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.failed = 0

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.failed >= self.limit


class _Expired(stop_base):
    """Stop once the job has been kept ``keep_s`` since it was submitted (waiting included)."""

    def __init__(self, keep_s: float) -> None:
        self._until = time.monotonic() + keep_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() >= self._until


class PostProcessor:
    def __init__(
        self,
        max_pending: int = 1_000,
        *,
        permanent: tuple[type[BaseException], ...] = (),
        is_permanent: Callable[[BaseException], bool] = _never,
        deferred: tuple[type[BaseException], ...] = (),
        max_attempts: int = 8,
        attempt_timeout_s: float = 10.0,
        max_wait_s: float = 2.0,
        keep_s: float = 300.0,
    ) -> None:
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self._last: dict[str, asyncio.Task[None]] = {}  # the newest job per key
        self._failures = _Failures(permanent, is_permanent, deferred)
        self._schedule = _Schedule(max_attempts, attempt_timeout_s, max_wait_s, keep_s)
        self.give_up_at: float | None = None
        self.stats = PostStats()

    def permanent(self, exc: BaseException) -> bool:
        """An error that no retry can fix."""
        return isinstance(exc, self._failures.permanent) or self._failures.is_permanent(exc)

    def _retryable(self, exc: BaseException) -> bool:
        # Cancellation (drain) is a BaseException that tenacity would otherwise swallow and retry.
        return isinstance(exc, Exception) and not self.permanent(exc)

    async def submit(self, name: str, job: Callable[[], Awaitable[None]], key: str | None = None) -> bool:
        """Schedule ``job`` and return at once: ``False`` (refused) when the queue is full.

        A job with a ``key`` starts once the previous job with that key has ended (done,
        given up or failed for good): one conversation's writes land in order."""
        if len(self._tasks) >= self._max_pending:
            self.stats.refused += 1
            logger.warning("background queue full; job refused", extra={"job": name, "pending": len(self._tasks)})
            return False
        self.stats.submitted += 1
        after = self._last.get(key) if key is not None else None
        task = asyncio.create_task(self._run(name, job, after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key is not None:
            self._last[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return True

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self._last.get(key) is task:
            del self._last[key]

    async def _attempt(self, job: Callable[[], Awaitable[None]]) -> None:
        async with asyncio.timeout(self._schedule.attempt_timeout_s):
            await job()

    async def _run(
        self, name: str, job: Callable[[], Awaitable[None]], after: asyncio.Task[None] | None = None
    ) -> None:
        attempts, expired = _AttemptsFailed(self._schedule.max_attempts), _Expired(self._schedule.keep_s)

        def count_failure(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, self._failures.deferred):
                self.stats.deferred += 1  # never reached the downstream: no attempt spent
                return
            attempts.failed += 1
            self.stats.failed_attempts += 1
            logger.warning(
                "background job failed",
                extra={"job": name, "attempt": attempts.failed, "error": type(exc).__name__},
            )

        try:
            if after is not None and not after.done():
                await asyncio.wait([after])  # the key's previous job, however it ended
            async for attempt in AsyncRetrying(
                wait=wait_random_exponential(multiplier=0.05, max=self._schedule.max_wait_s),
                retry=retry_if_exception(self._retryable),
                stop=stop_any(attempts, expired, _DrainDeadline(self)),
                after=count_failure,
                reraise=True,
            ):
                with attempt:
                    await self._attempt(job)
            self.stats.succeeded += 1
        except asyncio.CancelledError:
            self.stats.abandoned += 1
            logger.error("background job abandoned at the drain deadline", extra={"job": name})
            raise
        except Exception as exc:
            if self.permanent(exc):
                self.stats.permanent += 1
                logger.error(
                    "background job failed for good; not retried", extra={"job": name, "error": type(exc).__name__}
                )
            else:
                self.stats.abandoned += 1
                logger.error("background job abandoned", extra={"job": name, "error": type(exc).__name__})

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, deadline_s: float) -> None:
        """Flush: let pending jobs finish (retrying) for up to ``deadline_s``, then cancel the rest."""
        self.give_up_at = time.monotonic() + deadline_s
        while self._tasks:
            left = self.give_up_at - time.monotonic()
            if left <= 0:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                return
            await asyncio.wait(list(self._tasks), timeout=left)
