"""Fault injection around a real store, for tests and benchmarks (never imported by a service).

``FailingAppends`` wraps a session store (the real DynamoDB one, say) so that a seeded share of
``append`` calls fail before anything is written, as a dropped connection would: what the
post-processing queue's retries must absorb without losing a turn.
"""

from __future__ import annotations

import random
from typing import Any, Generic, Protocol, TypeVar


class AppendStore(Protocol):
    async def append(self, *args: Any, **kwargs: Any) -> None: ...


S = TypeVar("S", bound=AppendStore)


class FailingAppends(Generic[S]):
    """``inner.append`` with a share ``rate`` of calls raising ``ConnectionError`` first (seeded)."""

    def __init__(self, inner: S, rate: float, seed: int) -> None:
        self.inner = inner
        self.rate = rate
        self.rng = random.Random(seed)
        self.injected = 0

    async def append(self, *args: Any, **kwargs: Any) -> None:
        if self.rng.random() < self.rate:
            self.injected += 1
            raise ConnectionError("injected write failure")
        await self.inner.append(*args, **kwargs)
