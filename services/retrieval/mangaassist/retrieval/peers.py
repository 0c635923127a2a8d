"""Replicas that agree: follow every peer replica's change feed and apply its stock changes.

With several retrieval processes that each hold the catalog in memory (``make up
REPLICAS=2``), ``UpdateStock`` reaches one of them. Each replica therefore follows the
change feed of every other replica (``WatchCatalogChanges`` with ``with_stock``) and
applies the stock levels newer than its own (last write wins, ``changes.StockLevel``).
An applied level is published on this replica's own feed too, so an orchestrator that
follows any one replica sees every change, wherever it was made.

Why no broker: the feed already exists, is resumable and says when changes were missed;
a full mesh of feeds between a handful of local replicas is a few idle streams. With
``with_stock`` every (re)connection starts with all the levels the peer has applied
since it started, so a replica that restarted (and reloaded the catalog) or lost a
stream catches up instead of serving old stock. In AWS the replicas share the store
that holds stock (OpenSearch) and run with no peers.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

from mangaassist.common.errors import ServiceError
from mangaassist.common.grpc_client import open_channel
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.changes import StockLevel

logger = logging.getLogger(__name__)

Apply = Callable[[StockLevel], Awaitable[bool]]


@dataclass
class PeerStats:
    connected: bool = False
    reconnects: int = 0
    levels: int = 0  # stock levels received (applied when newer than ours)
    epoch: str = ""
    seq: int = 0
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)  # first message (with its levels) applied
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # caught up, or found unreachable once


class PeerFollower:
    """One long-lived feed per peer; reconnects back off exponentially with full jitter, capped."""

    def __init__(self, peers: list[str], apply: Apply, max_backoff_s: float = 2.0) -> None:
        self._apply = apply
        self._max_backoff = max_backoff_s
        self._channels = {peer: open_channel(peer) for peer in peers}
        self.stats = {peer: PeerStats() for peer in peers}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for peer, channel in self._channels.items():
            stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
            self._tasks.append(asyncio.create_task(self._run(peer, stub), name=f"peer-feed {peer}"))

    async def caught_up(self, timeout_s: float) -> list[str]:
        """Wait (at most ``timeout_s``) until every reachable peer's levels are applied; the peers
        not caught up by then (down, or too slow: they catch up from us instead)."""
        waits = {peer: asyncio.ensure_future(s.settled.wait()) for peer, s in self.stats.items()}
        if waits:
            await asyncio.wait(waits.values(), timeout=timeout_s)
        for wait in waits.values():
            wait.cancel()
        return [peer for peer, s in self.stats.items() if not s.caught_up.is_set()]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for channel in self._channels.values():
            await channel.close()

    async def _run(self, peer: str, stub: retrieval_pb2_grpc.RetrievalServiceAsyncStub) -> None:
        stats = self.stats[peer]
        failures = 0
        while True:
            try:
                await self._follow(peer, stub, stats)
                failures = 0  # the peer drained: reconnect at once
            except grpc.aio.AioRpcError as exc:
                failures += 1
                stats.settled.set()
                stats.connected = False
                stats.reconnects += 1
                delay = random.uniform(0, min(self._max_backoff, 0.05 * 2 ** min(failures, 10)))
                logger.debug(
                    "peer feed unavailable; reconnecting",
                    extra={"status": exc.code().name, "retry_in_s": round(delay, 2)},
                )
                await asyncio.sleep(delay)

    async def _follow(self, peer: str, stub: retrieval_pb2_grpc.RetrievalServiceAsyncStub, stats: PeerStats) -> None:
        request = retrieval_pb2.WatchCatalogChangesRequest(epoch=stats.epoch, after_seq=stats.seq, with_stock=True)
        async for change in stub.WatchCatalogChanges(request):
            if not stats.connected:
                stats.connected = True
                logger.info("following a peer replica's changes", extra={"peer_epoch": change.epoch})
            for level in change.stock:
                await self._apply_one(StockLevel(level.asin, level.stock_count, level.version, level.origin), stats)
            stats.epoch, stats.seq = change.epoch, change.seq
            stats.caught_up.set()
            stats.settled.set()

    async def _apply_one(self, level: StockLevel, stats: PeerStats) -> None:
        try:
            applied = await self._apply(level)
        except ServiceError as exc:  # the store refused the row: the level is retried at the next catch-up
            logger.warning("a peer's stock change could not be applied", extra={"status": exc.code.name})
            return
        stats.levels += 1
        if not applied:
            logger.warning("a peer changed stock of a product this catalog does not have")
