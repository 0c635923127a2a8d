"""The retry policy of idempotent calls (``guards.idempotent``): what is retried, how often,
and what the guard and the request's retry budget see."""

from __future__ import annotations

import grpc
import pytest

from mangaassist.orchestrator.guards import Guards, RetryBudget, idempotent


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "x")


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_transient_failures_are_retried_and_the_guard_records_one_success() -> None:
    guard, budget = Guards()["intent"], RetryBudget(5)
    call = Flaky(rpc_error(grpc.StatusCode.UNAVAILABLE), rpc_error(grpc.StatusCode.UNAVAILABLE))
    assert await idempotent(guard, budget, call) == "ok"
    assert call.calls == 3 and budget.left == 3
    snap = guard.breaker.snapshot()
    assert snap["calls"] == 1 and snap["failures"] == 0


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED])
async def test_other_failures_are_not_retried(code: grpc.StatusCode) -> None:
    guard, budget = Guards()["intent"], RetryBudget(5)
    call = Flaky(rpc_error(code))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await idempotent(guard, budget, call)
    assert caught.value.code() == code and call.calls == 1 and budget.left == 5


async def test_at_most_three_attempts_and_the_last_transient_failure_spends_the_budget_too() -> None:
    guard, budget = Guards()["retrieval"], RetryBudget(5)
    call = Flaky(*(rpc_error(grpc.StatusCode.UNAVAILABLE) for _ in range(5)))
    with pytest.raises(grpc.aio.AioRpcError):
        await idempotent(guard, budget, call)
    assert call.calls == 3 and budget.left == 2  # as with tenacity: the budget is asked first


async def test_an_empty_budget_stops_retrying() -> None:
    guard, budget = Guards()["intent"], RetryBudget(1)
    call = Flaky(rpc_error(grpc.StatusCode.UNAVAILABLE), rpc_error(grpc.StatusCode.UNAVAILABLE))
    with pytest.raises(grpc.aio.AioRpcError):
        await idempotent(guard, budget, call)
    assert call.calls == 2 and budget.left == 0
