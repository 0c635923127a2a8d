"""A downstream that comes back closes its breaker soon, not a cool-down later."""

from __future__ import annotations

from mangaassist.common.resilience import CLOSED, HALF_OPEN, OPEN
from mangaassist.orchestrator.guards import Guards
from mangaassist.orchestrator.recovery import BreakerRecovery


def open_breaker(guards: Guards, name: str) -> None:
    breaker = guards[name].breaker
    for _ in range(breaker.config.failure_threshold):
        breaker.record(False)
    assert breaker.state == OPEN


async def test_a_service_seen_down_then_serving_half_opens_its_breakers_at_once() -> None:
    guards = Guards()
    health = {"intent": "SERVING", "inference": "UNREACHABLE"}

    async def status(name: str) -> str:
        return health[name]

    recovery = BreakerRecovery(guards, status, {"intent", "inference"})
    open_breaker(guards, "inference:haiku")
    open_breaker(guards, "inference:sonnet")
    await recovery.check_once()  # down: the breakers stay open
    assert guards["inference:haiku"].breaker.state == OPEN
    health["inference"] = "SERVING"
    await recovery.check_once()
    assert guards["inference:haiku"].breaker.state == HALF_OPEN
    assert guards["inference:sonnet"].breaker.state == HALF_OPEN
    assert recovery.hastened == 2
    breaker = guards["inference:haiku"].breaker
    for _ in range(breaker.config.recovery_successes):
        assert breaker.allow()
        breaker.record(True)
    assert breaker.state == CLOSED


async def test_a_breaker_that_opened_while_its_service_stayed_healthy_keeps_its_cool_down() -> None:
    guards = Guards()

    async def serving(name: str) -> str:
        return "SERVING"

    recovery = BreakerRecovery(guards, serving, {"intent", "inference"})
    open_breaker(guards, "intent")
    for _ in range(3):
        await recovery.check_once()
    assert guards["intent"].breaker.state == OPEN and recovery.hastened == 0
