"""Keep the local cluster's processes running: restart a part that exits, with backoff.

On ECS a task that dies is replaced while the rest keep serving; ``make up`` does the
same for its child processes, so a fault drill on the local cluster means something.
A part that exits is started again after a delay that doubles with each crash in a row
(0.5 s, 1 s, 2 s … up to 30 s) and falls back to the first step once the part has stayed
up for ``stable_s``. Every exit, restart and return to health is logged. Nothing else is
touched: the other parts keep serving (degraded, with their fallbacks) meanwhile.

A fault drill can :meth:`Supervisor.hold` a part for some seconds: a part that exits while
held is restarted only once the hold is over (and its backoff delay too), so an outage
lasts long enough for the callers' breakers to open, as a task that ECS takes a while to
replace. ``make up`` never holds anything; a hold changes nothing for a part that stays up.

The supervisor only polls; it owns no thread. ``make up`` runs :meth:`Supervisor.run` on
its main thread until Ctrl-C / SIGTERM, then stops the cluster. Whoever runs it in a
thread must stop it (and join) *before* ``Cluster.stop()``, or it would restart what is
being stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mangaassist.devtools.cluster import Cluster

logger = logging.getLogger("mangaassist.devtools.supervisor")


@dataclass(frozen=True)
class Backoff:
    """Delay before restart number ``n`` of a crash streak: ``initial_s * factor**(n-1)``, capped."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    stable_s: float = 30.0  # up this long: the next exit starts a new streak

    def delay(self, streak: int) -> float:
        return float(min(self.max_s, self.initial_s * self.factor ** max(0, streak - 1)))


@dataclass
class PartState:
    started_at: float
    streak: int = 0  # exits in a row, each within ``stable_s`` of its start
    restarts: int = 0
    restart_at: float | None = None  # set while the part is down and waiting for its restart
    recovering: bool = False  # restarted, not yet reported healthy
    held_until: float = float("-inf")  # no restart before this (a drill's hold; never in make up)


class Supervisor:
    """Watches ``cluster.procs``; :meth:`poll` is one pass, :meth:`run` polls until stopped."""

    def __init__(
        self,
        cluster: Cluster,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster = cluster
        self.backoff = backoff or Backoff()
        self._clock = clock
        now = clock()
        self.parts: dict[str, PartState] = {name: PartState(started_at=now) for name in cluster.procs}

    def hold(self, name: str, seconds: float) -> float:
        """Restart ``name`` no sooner than ``seconds`` from now if it exits (or is down) meanwhile.

        For fault drills: call it just before killing the part. Returns when the hold ends
        (on the supervisor's clock). Safe to call from another thread: one float is replaced.
        """
        until = self._clock() + seconds
        self.parts.setdefault(name, PartState(started_at=self._clock())).held_until = until
        return until

    def poll(self, stopping: Callable[[], bool] = lambda: False) -> list[str]:
        """Notice exits, restart the parts whose delay is over; the names restarted now."""
        restarted = []
        for name, proc in list(self.cluster.procs.items()):
            now = self._clock()
            state = self.parts.setdefault(name, PartState(started_at=now))
            if proc.poll() is None:
                if state.recovering and self.cluster.is_serving(name):
                    state.recovering = False
                    logger.warning("%s is serving again (%.1f s after its restart)", name, now - state.started_at)
                continue
            if state.restart_at is None:
                quick = now - state.started_at < self.backoff.stable_s
                state.streak = state.streak + 1 if quick else 1
                delay = self.backoff.delay(state.streak)
                held = state.held_until > now + delay
                state.restart_at = max(now + delay, state.held_until)
                state.recovering = False
                logger.error(
                    "%s (pid %s) exited with code %s; restarting in %.1f s (crash %d in a row%s)",
                    name,
                    proc.pid,
                    proc.returncode,
                    state.restart_at - now,
                    state.streak,
                    ", held" if held else "",
                )
            elif now >= max(state.restart_at, state.held_until) and not stopping():
                try:
                    new = self.cluster.spawn(name)
                except OSError as exc:
                    state.started_at = now
                    state.restart_at = None  # counted as another quick exit on the next pass
                    logger.error("%s could not be started: %s", name, exc)
                    continue
                state.started_at, state.restart_at, state.recovering = now, None, True
                state.restarts += 1
                restarted.append(name)
                logger.warning("restarted %s (pid %s, restart %d)", name, new.pid, state.restarts)
        return restarted

    def run(self, stop: threading.Event, interval_s: float = 0.25) -> None:
        """Poll until ``stop`` is set (it is checked before every restart, too)."""
        while not stop.is_set():
            self.poll(stop.is_set)
            stop.wait(interval_s)
