"""After-response jobs: retried until they succeed, flushed at drain, bounded."""

from __future__ import annotations

import asyncio

from mangaassist.orchestrator.postprocess import PostProcessor


class Flaky:
    """Unit-test job that fails its first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("injected")


async def test_failed_jobs_are_retried_until_they_succeed() -> None:
    post = PostProcessor(max_wait_s=0.01)
    jobs = [Flaky(i % 4) for i in range(20)]
    for job in jobs:
        await post.submit("job", job)
    await post.drain(5.0)
    assert post.stats.succeeded == 20 and post.stats.abandoned == 0
    assert post.stats.failed_attempts == sum(i % 4 for i in range(20))


async def test_permanent_errors_are_not_retried() -> None:
    class Forbidden(Exception):
        pass

    calls = 0

    async def job() -> None:
        nonlocal calls
        calls += 1
        raise Forbidden

    post = PostProcessor(permanent=(Forbidden,), max_wait_s=0.01)
    await post.submit("job", job)
    await post.drain(1.0)
    assert calls == 1 and post.stats.abandoned == 1


async def test_drain_gives_up_only_at_its_deadline() -> None:
    post = PostProcessor(max_wait_s=0.01)
    await post.submit("never", Flaky(10**9))
    started = asyncio.get_running_loop().time()
    await post.drain(0.3)
    assert post.stats.abandoned == 1
    assert 0.25 <= asyncio.get_running_loop().time() - started < 2.0


async def test_submit_waits_when_the_queue_is_full() -> None:
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    post = PostProcessor(max_pending=2)
    await post.submit("a", blocked)
    await post.submit("b", blocked)
    third = asyncio.create_task(post.submit("c", blocked))
    await asyncio.sleep(0.05)
    assert not third.done() and post.pending == 2
    gate.set()
    await asyncio.wait_for(third, 1.0)
    await post.drain(1.0)
    assert post.stats.succeeded == 3
