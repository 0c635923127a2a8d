"""After-response jobs: retried a bounded number of times, permanent errors at once, never in the way."""

from __future__ import annotations

import asyncio
import time

import pytest
from botocore.exceptions import ClientError

from mangaassist.common.resilience import BreakerConfig, BreakerOpenError, Bulkhead, CircuitBreaker
from mangaassist.orchestrator.dynamo import is_permanent
from mangaassist.orchestrator.guards import Guard
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.sessions import GuardedSessionStore, InMemorySessionStore, SessionOwnershipError, Turn


class Flaky:
    """Unit-test job that fails its first ``failures`` calls."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("injected")
        self.calls = 0
        self.at: list[float] = []

    async def __call__(self) -> None:
        self.calls += 1
        self.at.append(time.monotonic())
        if self.calls <= self.failures:
            raise self.error


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, "PutItem")


async def test_failed_jobs_are_retried_until_they_succeed() -> None:
    post = PostProcessor(max_wait_s=0.01)
    jobs = [Flaky(i % 4) for i in range(20)]
    for job in jobs:
        assert await post.submit("job", job)
    await post.drain(5.0)
    assert post.stats.succeeded == 20 and post.stats.abandoned == 0
    assert post.stats.failed_attempts == sum(i % 4 for i in range(20))


async def test_retries_are_capped_and_back_off() -> None:
    post = PostProcessor(max_attempts=4, max_wait_s=0.2)
    job = Flaky(10**9)
    await post.submit("never", job)
    await post.drain(10.0)
    assert job.calls == 4
    assert post.stats.abandoned == 1 and post.stats.failed_attempts == 4 and post.stats.succeeded == 0


@pytest.mark.parametrize(
    "error",
    [
        client_error("AccessDeniedException"),
        client_error("ResourceNotFoundException"),  # a missing table
        client_error("ValidationException"),
        SessionOwnershipError("s-1"),
    ],
    ids=["access-denied", "missing-table", "validation", "ownership"],
)
async def test_non_retryable_errors_fail_at_once_and_are_counted(error: Exception) -> None:
    post = PostProcessor(permanent=(SessionOwnershipError,), is_permanent=is_permanent, max_wait_s=0.01)
    job = Flaky(10**9, error)
    await post.submit("job", job)
    await post.drain(5.0)
    assert job.calls == 1
    assert post.stats.permanent == 1 and post.stats.abandoned == 0 and post.stats.failed_attempts == 0


def test_transient_dynamodb_errors_are_retryable() -> None:
    for code in ("ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"):
        assert not is_permanent(client_error(code))
    assert not is_permanent(ConnectionError())


async def test_a_full_queue_refuses_new_work_at_once_instead_of_blocking(caplog: pytest.LogCaptureFixture) -> None:
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    post = PostProcessor(max_pending=2)
    assert await post.submit("a", blocked)
    assert await post.submit("b", blocked)
    # The third returns at once (no await on a slot): a request after `done` is never held.
    refused = await asyncio.wait_for(post.submit("c", blocked), 0.05)
    assert refused is False and post.stats.refused == 1 and post.pending == 2
    assert "background queue full; job refused" in caplog.text
    gate.set()
    await post.drain(1.0)
    assert post.stats.succeeded == 2
    assert await post.submit("d", blocked)  # room again
    await post.drain(1.0)


async def test_a_hung_attempt_times_out_and_frees_its_slot() -> None:
    calls = 0

    async def hangs_once() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()

    post = PostProcessor(max_pending=1, attempt_timeout_s=0.05, max_wait_s=0.01)
    await post.submit("hang", hangs_once)
    await post.drain(2.0)
    assert calls == 2 and post.stats.succeeded == 1 and post.pending == 0


async def test_drain_stops_retrying_and_cancels_what_runs_at_its_deadline() -> None:
    post = PostProcessor(max_attempts=10**6, max_wait_s=0.01)
    await post.submit("never", Flaky(10**9))

    async def hangs() -> None:
        await asyncio.Event().wait()

    await post.submit("hangs", hangs)
    started = time.monotonic()
    await post.drain(0.3)
    assert post.pending == 0 and post.stats.abandoned == 2
    assert 0.25 <= time.monotonic() - started < 2.0


def guard(threshold: int = 2) -> Guard:
    config = BreakerConfig(failure_threshold=threshold, window_s=60, cooldown_s=60, recovery_successes=1)
    return Guard("dynamodb", CircuitBreaker("dynamodb", config), Bulkhead("dynamodb", 4, max_queue=4, max_wait_s=0.1))


class FailingStore(InMemorySessionStore):
    def __init__(self) -> None:
        super().__init__(100, 3600)
        self.appends = 0
        self.failing = True

    async def append(self, *args: object, **kwargs: object) -> None:
        self.appends += 1
        if self.failing:
            raise client_error("ProvisionedThroughputExceededException")
        await super().append(*args, **kwargs)  # type: ignore[arg-type]


async def test_session_appends_go_through_the_dynamodb_breaker() -> None:
    store, g = FailingStore(), guard(threshold=2)
    guarded = GuardedSessionStore(store, g)
    for _ in range(2):
        with pytest.raises(ClientError):
            await guarded.append("s-1", Turn(None, "greeting", "hi", "hello"))
    # The breaker is open now: the next append fails at once, without touching the store.
    with pytest.raises(BreakerOpenError):
        await guarded.append("s-1", Turn(None, "greeting", "hi", "hello"))
    assert store.appends == 2


async def test_another_customers_session_does_not_count_against_the_store() -> None:
    store, g = InMemorySessionStore(100, 3600), guard(threshold=1)
    guarded = GuardedSessionStore(store, g)
    await guarded.append("s-1", Turn("alice", "greeting", "hi", "hello"))
    for _ in range(3):
        with pytest.raises(SessionOwnershipError):
            await guarded.append("s-1", Turn("mallory", "greeting", "hi", "hello"))
    await guarded.append("s-1", Turn("alice", "greeting", "again", "hello"))  # breaker still closed
    assert len((await guarded.load("s-1")).turns) == 4
