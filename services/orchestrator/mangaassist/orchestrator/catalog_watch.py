"""Keeps the semantic cache honest: follows the retrieval service's catalog change feed and
drops cached answers about products whose stock or price changed.

One long-lived ``WatchCatalogChanges`` stream per orchestrator process, resumed from the
last change seen after any break (reconnects back off exponentially with full jitter,
capped). Invalidations go through the post-processor, so a cache that is briefly down
gets them retried instead of lost; a ``reset`` from the feed (changes were missed)
drops every cached answer that mentions a product.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

import grpc

from mangaassist.orchestrator.cache import SemanticCache
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

logger = logging.getLogger(__name__)


@dataclass
class WatchStats:
    connected: bool = False
    reconnects: int = 0
    changes: int = 0
    resets: int = 0
    epoch: str = ""
    seq: int = 0


@dataclass(eq=False)
class CatalogWatcher:
    retrieval: retrieval_pb2_grpc.RetrievalServiceAsyncStub
    cache: SemanticCache
    post: PostProcessor
    max_backoff_s: float = 5.0
    stats: WatchStats = field(default_factory=WatchStats, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="catalog-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._follow()
                failures = 0  # the feed ended cleanly (server drain): reconnect at once
            except grpc.aio.AioRpcError as exc:
                failures += 1
                self.stats.connected = False
                self.stats.reconnects += 1
                delay = random.uniform(0, min(self.max_backoff_s, 0.1 * 2 ** min(failures, 10)))
                logger.info(
                    "catalog feed unavailable; reconnecting",
                    extra={"status": exc.code().name, "retry_in_s": round(delay, 2)},
                )
                await asyncio.sleep(delay)

    async def _invalidate_all(self) -> None:
        await self.cache.invalidate_all_products()

    async def _follow(self) -> None:
        request = retrieval_pb2.WatchCatalogChangesRequest(epoch=self.stats.epoch, after_seq=self.stats.seq)
        stream = self.retrieval.WatchCatalogChanges(request, wait_for_ready=True)
        async for change in stream:
            self.stats.connected = True
            if change.reset:
                self.stats.resets += 1
                logger.warning("catalog changes were missed; dropping every cached product answer")
                await self.post.submit("cache-invalidate-all", self._invalidate_all)
            elif change.asins:
                self.stats.changes += 1
                asins = list(change.asins)

                async def invalidate(asins: list[str] = asins) -> None:
                    await self.cache.invalidate_products(asins)

                await self.post.submit("cache-invalidate", invalidate)
            self.stats.epoch, self.stats.seq = change.epoch, change.seq
