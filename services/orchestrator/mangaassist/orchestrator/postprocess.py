"""After-response work (session updates, cache writes) off the critical path, losing nothing.

Each job runs in a tracked background task and is retried with exponential backoff and
full jitter (tenacity) until it succeeds. While draining, jobs keep retrying until the
drain deadline, so a shutdown flushes pending writes instead of dropping them. The
number of pending jobs is bounded: past the bound, submitting waits for a slot
(backpressure on the request) rather than growing memory or discarding work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_not_exception_type, wait_random_exponential

logger = logging.getLogger(__name__)


@dataclass
class PostStats:
    submitted: int = 0
    succeeded: int = 0
    failed_attempts: int = 0
    abandoned: int = 0


class PostProcessor:
    def __init__(
        self,
        max_pending: int = 1_000,
        *,
        permanent: tuple[type[BaseException], ...] = (),
        max_wait_s: float = 2.0,
    ) -> None:
        self._slots = asyncio.Semaphore(max_pending)
        self._tasks: set[asyncio.Task[None]] = set()
        self._permanent = permanent
        self._max_wait = max_wait_s
        self._give_up_at: float | None = None
        self.stats = PostStats()

    def _stop(self, state: RetryCallState) -> bool:
        return self._give_up_at is not None and time.monotonic() >= self._give_up_at

    async def submit(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Schedule ``job``; returns at once unless ``max_pending`` jobs are already queued."""
        await self._slots.acquire()
        self.stats.submitted += 1
        task = asyncio.create_task(self._run(name, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        def count_failure(state: RetryCallState) -> None:
            self.stats.failed_attempts += 1
            exc = state.outcome.exception() if state.outcome else None
            logger.warning(
                "background job failed; retrying",
                extra={"job": name, "attempt": state.attempt_number, "error": type(exc).__name__},
            )

        try:
            async for attempt in AsyncRetrying(
                wait=wait_random_exponential(multiplier=0.05, max=self._max_wait),
                retry=retry_if_not_exception_type(self._permanent),
                stop=self._stop,
                after=count_failure,
                reraise=True,
            ):
                with attempt:
                    await job()
            self.stats.succeeded += 1
        except Exception as exc:
            self.stats.abandoned += 1
            logger.error("background job abandoned", extra={"job": name, "error": type(exc).__name__})
        finally:
            self._slots.release()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, deadline_s: float) -> None:
        """Flush: let pending jobs finish (retrying) for up to ``deadline_s`` seconds."""
        self._give_up_at = time.monotonic() + deadline_s
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
