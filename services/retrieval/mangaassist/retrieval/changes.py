"""The catalog change feed: every applied stock/price change, numbered, for followers to replay.

Why our own: the followers (orchestrator tasks holding cached answers about products)
need "what changed since the last change I saw", resumable after a reconnect, over the
gRPC mesh they already use. A bounded in-process log with a sequence number and an
epoch (new per process start) is all that takes; a broker would add a moving part to
the request path for a few changes a minute.

A follower that presents another epoch (the feed restarted) or a sequence older than
the log still holds is told to *reset* — to treat every product as changed — so a gap
can make a cache colder but never stale.

Replicas of the retrieval service follow one another's feeds (``peers.py``) and apply
each other's stock changes, so every change carries the new stock levels. A level is
``(stock_count, version, origin)``; a replica keeps the one with the highest
``(version, origin)`` (last write wins; applying the same level twice changes nothing,
so changes relayed around the mesh stop where they are already known). The feed keeps
every level applied since it started (at most one per volume): a follower asking
``with_stock`` gets them all on its first message and on every reset, so a replica that
restarted or missed changes catches up rather than serving old stock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class StockLevel:
    asin: str
    stock_count: int
    version: int  # Unix ns when it was set (raised past the level it replaced)
    origin: str  # the epoch of the feed whose replica set it

    def newer_than(self, other: StockLevel | None) -> bool:
        return other is None or (self.version, self.origin) > (other.version, other.origin)


@dataclass(frozen=True)
class Change:
    epoch: str
    seq: int
    asins: tuple[str, ...] = ()
    reset: bool = False
    levels: tuple[StockLevel, ...] = ()


class ChangeFeed:
    """Publishing is synchronous (callable from any code on the event loop); following is async."""

    def __init__(self, keep: int = 10_000) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.epoch = uuid.uuid4().hex
        self._seq = 0
        self._log: deque[Change] = deque(maxlen=keep)
        self._wake = asyncio.Event()
        self._levels: dict[str, StockLevel] = {}
        self._closed = False

    @property
    def seq(self) -> int:
        return self._seq

    def level(self, asin: str) -> StockLevel | None:
        """The last stock level applied to ``asin`` since this feed started, if any."""
        return self._levels.get(asin)

    def levels(self) -> tuple[StockLevel, ...]:
        """Every stock level applied since this feed started (one per volume)."""
        return tuple(self._levels.values())

    def _append(self, asins: tuple[str, ...], reset: bool, levels: tuple[StockLevel, ...] = ()) -> Change:
        self._seq += 1
        change = Change(self.epoch, self._seq, asins, reset, levels)
        self._log.append(change)
        woken, self._wake = self._wake, asyncio.Event()
        woken.set()
        return change

    def close(self) -> None:
        """End every follower's stream (the process is draining): they resume elsewhere."""
        self._closed = True
        self._wake.set()

    def publish(self, asins: Iterable[str], levels: Iterable[StockLevel] = ()) -> Change:
        """Record that ``asins`` changed (to ``levels``, when stock changed) and wake every follower."""
        levels = tuple(levels)
        for level in levels:
            self._levels[level.asin] = level
        return self._append(tuple(sorted({*asins, *(level.asin for level in levels)})), False, levels)

    def reset(self) -> Change:
        """The whole catalog was replaced (a reload): followers drop everything they hold."""
        self._levels.clear()
        return self._append((), reset=True)

    def _missed(self, epoch: str, after: int) -> bool:
        if not epoch:
            return False  # a new follower: nothing to catch up on
        if epoch != self.epoch or after > self._seq:
            return True
        oldest = self._log[0].seq if self._log else self._seq + 1
        return after < oldest - 1

    async def follow(self, epoch: str, after: int, with_stock: bool = False) -> AsyncIterator[Change]:
        """A cursor first, then (after a ``reset`` if changes were missed) every change after ``after``.

        ``with_stock``: the cursor and every reset carry all the levels applied so far.
        """
        missed = self._missed(epoch, after)
        start = self._seq if (missed or not epoch) else after
        yield Change(self.epoch, start, (), reset=missed, levels=self.levels() if with_stock else ())
        while not self._closed:
            wake = self._wake
            pending = [c for c in self._log if c.seq > start]
            if not pending:
                await wake.wait()
                continue
            if pending[0].seq > start + 1:  # this follower fell behind the log
                pending = [Change(self.epoch, self._seq, (), reset=True, levels=self.levels() if with_stock else ())]
            for change in pending:
                yield change
                start = change.seq
