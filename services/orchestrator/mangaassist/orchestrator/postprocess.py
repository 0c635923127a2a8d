"""After-response work (session updates, cache writes) off the critical path, never in its way.

Each job runs in a tracked background task. A failed attempt is retried with exponential
backoff and full jitter (tenacity), at most ``max_attempts`` attempts in all; an error that
no retry can fix (``permanent``: access denied, a missing table, a request the store
rejects, a session that belongs to someone else) fails at once. Every attempt has a
timeout, so a call that hangs cannot hold its slot. The number of pending jobs is bounded:
past the bound, ``submit`` refuses the job at once (counted and logged) rather than make
the request wait, so nothing after ``done`` can hold a request. Draining stops retries and
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
    stop_after_attempt,
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


def _never(exc: BaseException) -> bool:
    return False


class _DrainDeadline(stop_base):
    """Stop retrying once the post-processor's drain deadline has passed."""

    def __init__(self, post: PostProcessor) -> None:
        self._post = post

    def __call__(self, retry_state: RetryCallState) -> bool:
        give_up_at = self._post.give_up_at
        return give_up_at is not None and time.monotonic() >= give_up_at


class PostProcessor:
    def __init__(
        self,
        max_pending: int = 1_000,
        *,
        permanent: tuple[type[BaseException], ...] = (),
        is_permanent: Callable[[BaseException], bool] = _never,
        max_attempts: int = 8,
        attempt_timeout_s: float = 10.0,
        max_wait_s: float = 2.0,
    ) -> None:
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self._permanent_types = permanent
        self._is_permanent = is_permanent
        self._max_attempts = max_attempts
        self._attempt_timeout = attempt_timeout_s
        self._max_wait = max_wait_s
        self.give_up_at: float | None = None
        self.stats = PostStats()

    def permanent(self, exc: BaseException) -> bool:
        """An error that no retry can fix."""
        return isinstance(exc, self._permanent_types) or self._is_permanent(exc)

    def _retryable(self, exc: BaseException) -> bool:
        # Cancellation (drain) is a BaseException that tenacity would otherwise swallow and retry.
        return isinstance(exc, Exception) and not self.permanent(exc)

    async def submit(self, name: str, job: Callable[[], Awaitable[None]]) -> bool:
        """Schedule ``job`` and return at once: ``False`` (refused) when the queue is full."""
        if len(self._tasks) >= self._max_pending:
            self.stats.refused += 1
            logger.warning("background queue full; job refused", extra={"job": name, "pending": len(self._tasks)})
            return False
        self.stats.submitted += 1
        task = asyncio.create_task(self._run(name, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _attempt(self, job: Callable[[], Awaitable[None]]) -> None:
        async with asyncio.timeout(self._attempt_timeout):
            await job()

    async def _run(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        def count_failure(state: RetryCallState) -> None:
            self.stats.failed_attempts += 1
            exc = state.outcome.exception() if state.outcome else None
            logger.warning(
                "background job failed",
                extra={"job": name, "attempt": state.attempt_number, "error": type(exc).__name__},
            )

        try:
            async for attempt in AsyncRetrying(
                wait=wait_random_exponential(multiplier=0.05, max=self._max_wait),
                retry=retry_if_exception(self._retryable),
                stop=stop_any(stop_after_attempt(self._max_attempts), _DrainDeadline(self)),
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
