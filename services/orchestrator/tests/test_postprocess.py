"""After-response jobs: retried a bounded number of times, permanent errors at once, never in the
way; a store that is away keeps its turns queued (in order, once each) until it returns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from botocore.exceptions import ClientError

from mangaassist.common.resilience import BreakerConfig, BreakerOpenError, Bulkhead, BulkheadFullError, CircuitBreaker
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


async def test_jobs_with_one_key_run_in_submission_order() -> None:
    """A conversation's writes land in the order its turns were answered, even when the
    first one needs retries and the later ones would succeed at once."""
    landed: list[str] = []

    post = PostProcessor(max_wait_s=0.01)

    def turn(name: str, failures: int) -> Callable[[], Awaitable[None]]:
        flaky = Flaky(failures)

        async def run() -> None:
            await flaky()
            landed.append(name)

        return run

    for name, failures in [("s1-t1", 3), ("s1-t2", 0), ("s2-t1", 0), ("s1-t3", 1)]:
        assert await post.submit("turn", turn(name, failures), key=name[:2])
    await post.drain(5.0)
    assert [n for n in landed if n.startswith("s1")] == ["s1-t1", "s1-t2", "s1-t3"]
    assert landed.index("s2-t1") < landed.index("s1-t1")  # another conversation does not wait
    assert post.stats.succeeded == 4 and post.pending == 0


async def test_a_store_away_longer_than_the_attempts_loses_no_turn() -> None:
    """While the store is away its breaker opens; the queued turns wait for it (attempts the
    breaker refuses are deferred, not spent) and land, in order, once it is back."""
    now = [0.0]
    config = BreakerConfig(failure_threshold=2, window_s=60, cooldown_s=30, recovery_successes=1)
    g = Guard(
        "dynamodb",
        CircuitBreaker("dynamodb", config, clock=lambda: now[0]),
        Bulkhead("dynamodb", 4, max_queue=4, max_wait_s=0.1),
    )
    store = FailingStore()  # away: every write fails until ``failing`` is cleared
    guarded = GuardedSessionStore(store, g)
    post = PostProcessor(deferred=(BreakerOpenError, BulkheadFullError), max_attempts=3, max_wait_s=0.005)
    sessions = [f"s-{i}" for i in range(4)]
    tries, many_tries = 0, asyncio.Event()

    async def write(sid: str, turn: int) -> None:
        nonlocal tries
        tries += 1
        if tries >= 80:  # many more than the 3 attempts each job may spend on the store itself
            many_tries.set()
        await guarded.append(sid, Turn(None, "product_search", f"q{turn}", f"a{turn}", turn_id=f"{sid}-{turn}"))

    for turn in range(5):
        for sid in sessions:
            await post.submit("session-update", lambda sid=sid, turn=turn: write(sid, turn), key=sid)
    await asyncio.wait_for(many_tries.wait(), 30.0)
    assert post.stats.abandoned == 0 and post.pending == 20
    store.failing = False
    now[0] += 31  # the breaker's cool-down has passed: it lets a probe through
    await post.drain(30.0)
    assert post.stats.abandoned == 0 and post.stats.succeeded == 20
    assert post.stats.failed_attempts <= 4  # the calls that opened the breaker, no more
    for sid in sessions:
        session = await store.load(sid)
        assert session.version == 5
        assert [t for r, t in session.turns if r == "user"] == [f"q{t}" for t in range(5)]


class ReplyLost(InMemorySessionStore):
    """Unit-test fake: the first write lands but its reply is lost (a timeout after the store
    took it), so the caller retries a write that is already there."""

    def __init__(self) -> None:
        super().__init__(100, 3600)
        self.calls = 0

    async def append(self, *args: object, **kwargs: object) -> None:
        self.calls += 1
        await super().append(*args, **kwargs)  # type: ignore[arg-type]
        if self.calls == 1:
            raise TimeoutError("injected: the reply was lost")


async def test_a_retried_turn_whose_first_write_landed_is_not_stored_twice() -> None:
    store = ReplyLost()
    post = PostProcessor(max_wait_s=0.01)
    await post.submit(
        "session-update", lambda: store.append("s-1", Turn(None, "greeting", "hi", "hello", turn_id="t-1"))
    )
    await post.drain(5.0)
    session = await store.load("s-1")
    assert store.calls == 2 and post.stats.succeeded == 1
    assert session.version == 1 and session.turns == [("user", "hi"), ("assistant", "hello")]
