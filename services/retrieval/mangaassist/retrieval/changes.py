"""The catalog change feed: every applied stock/price change, numbered, for followers to replay.

Why our own: the followers (orchestrator tasks holding cached answers about products)
need "what changed since the last change I saw", resumable after a reconnect, over the
gRPC mesh they already use. A bounded in-process log with a sequence number and an
epoch (new per process start) is all that takes; a broker would add a moving part to
the request path for a few changes a minute.

A follower that presents another epoch (the feed restarted) or a sequence older than
the log still holds is told to *reset* — to treat every product as changed — so a gap
can make a cache colder but never stale.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    epoch: str
    seq: int
    asins: tuple[str, ...] = ()
    reset: bool = False


class ChangeFeed:
    """Publishing is synchronous (callable from any code on the event loop); following is async."""

    def __init__(self, keep: int = 10_000) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.epoch = uuid.uuid4().hex
        self._seq = 0
        self._log: deque[Change] = deque(maxlen=keep)
        self._wake = asyncio.Event()

    @property
    def seq(self) -> int:
        return self._seq

    def _append(self, asins: tuple[str, ...], reset: bool) -> Change:
        self._seq += 1
        change = Change(self.epoch, self._seq, asins, reset)
        self._log.append(change)
        woken, self._wake = self._wake, asyncio.Event()
        woken.set()
        return change

    def publish(self, asins: Iterable[str]) -> Change:
        """Record that ``asins`` changed and wake every follower."""
        return self._append(tuple(sorted(set(asins))), reset=False)

    def reset(self) -> Change:
        """The whole catalog was replaced (a reload): followers drop everything they hold."""
        return self._append((), reset=True)

    def _missed(self, epoch: str, after: int) -> bool:
        if not epoch:
            return False  # a new follower: nothing to catch up on
        if epoch != self.epoch or after > self._seq:
            return True
        oldest = self._log[0].seq if self._log else self._seq + 1
        return after < oldest - 1

    async def follow(self, epoch: str, after: int) -> AsyncIterator[Change]:
        """A cursor first, then (after a ``reset`` if changes were missed) every change after ``after``."""
        missed = self._missed(epoch, after)
        start = self._seq if (missed or not epoch) else after
        yield Change(self.epoch, start, (), reset=missed)
        while True:
            wake = self._wake
            pending = [c for c in self._log if c.seq > start]
            if not pending:
                await wake.wait()
                continue
            if pending[0].seq > start + 1:  # this follower fell behind the log
                pending = [Change(self.epoch, self._seq, (), reset=True)]
            for change in pending:
                yield change
                start = change.seq
