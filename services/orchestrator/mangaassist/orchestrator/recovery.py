"""Breakers that close soon after a downstream service comes back, not a cool-down later.

A gRPC service that crashed and was restarted (or was stopped and resumed) opens its
breaker; the breaker's cool-down (10-15 s) then kept refusing every call for that long after
the service was serving again. This watcher checks, about once a second, the health of each
downstream whose breaker is open. Once it has seen the service not serving and then serving
again, it ends the cool-down (``CircuitBreaker.probe_now``): the breaker half-opens and its
probes close it. A breaker that opened while the service stayed healthy (the model behind it
failing, say) keeps its full cool-down: health says nothing new about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from mangaassist.common.resilience import OPEN
from mangaassist.orchestrator.guards import Guards

logger = logging.getLogger(__name__)

Health = Callable[[str], Awaitable[str]]  # downstream name -> grpc.health.v1 status name


class BreakerRecovery:
    def __init__(self, guards: Guards, health: Health, downstreams: set[str], interval_s: float = 1.0) -> None:
        self._guards = guards
        self._health = health
        self._downstreams = downstreams
        self._interval = interval_s
        self._seen_down: set[str] = set()  # guard names whose service was seen not serving
        self._task: asyncio.Task[None] | None = None
        self.hastened = 0

    async def check_once(self) -> None:
        """One round: health of every downstream with an open breaker; hasten those back."""
        open_guards = [
            name
            for name, guard in self._guards.by_name.items()
            if name.split(":")[0] in self._downstreams and guard.breaker.state == OPEN
        ]
        self._seen_down &= set(open_guards)
        services = sorted({name.split(":")[0] for name in open_guards})
        statuses = dict(zip(services, await asyncio.gather(*(self._health(s) for s in services)), strict=True))
        for name in open_guards:
            if statuses[name.split(":")[0]] != "SERVING":
                self._seen_down.add(name)
            elif name in self._seen_down:
                self._seen_down.discard(name)
                self.hastened += 1
                logger.info("downstream serving again; breaker half-opens now", extra={"breaker": name})
                self._guards[name].breaker.probe_now()

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception as exc:  # a failed round is retried next interval
                logger.warning("breaker recovery check failed", extra={"error": type(exc).__name__})
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
