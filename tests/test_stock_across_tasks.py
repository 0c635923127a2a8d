"""Stock in AWS: several retrieval tasks on one OpenSearch index, several orchestrators on one
Valkey cache. A stock change taken by a task that no orchestrator follows still drops every
orchestrator's cached answer about the product.

Real pieces: two ``RetrievalServicer`` tasks (each its own catalog copy, its own gRPC server
on an ephemeral port) over the OpenSearch backend against the local fake OpenSearch server
(``services/retrieval/tests/fake_opensearch.py``); two orchestrators' ``RedisSemanticCache``
(separate connections, one key space) and ``CatalogWatcher`` on a real Redis Stack server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from mangaassist.devtools.redis_server import RedisStackServer
from mangaassist.orchestrator.cache import CacheEntry, CacheKey, RedisSemanticCache
from mangaassist.orchestrator.catalog_watch import CatalogWatcher
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.engine import catalog_vectors
from mangaassist.retrieval.opensearch import OpenSearchConfig
from mangaassist.retrieval.service import RetrievalServicer
from services.retrieval.tests.fake_opensearch import FakeOpenSearch, fake_aws_credentials, running, tasks_on_one_index

pytestmark = pytest.mark.integration

QUESTION = CacheKey(text="Is Blue Lock volume 20 in stock?", language="en", filters={}, intent="product_question")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch)


@asynccontextmanager
async def retrieval_task(servicer: RetrievalServicer) -> AsyncIterator[retrieval_pb2_grpc.RetrievalServiceStub]:
    server = grpc.aio.server()
    retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield retrieval_pb2_grpc.RetrievalServiceStub(channel)
    finally:
        servicer.changes.close()
        await server.stop(0)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` (a generous bound, not a goal)."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


async def test_a_change_on_a_task_no_orchestrator_follows_drops_every_orchestrators_cached_answer(
    redis_server: RedisStackServer, tmp_path: Path, aws: None
) -> None:
    products, vectors = catalog_vectors(RetrievalSettings().catalog_path, make_embedder("hashing"), tmp_path)
    asin = next(p["asin"] for p in products if p["title"] == "Blue Lock" and p["language"] == "en")
    async with running(FakeOpenSearch()) as url:
        tasks = await tasks_on_one_index(OpenSearchConfig(url=url), products, vectors, cache_entries=4096)
        (task_a, _), (task_b, store_b) = tasks
        caches = [RedisSemanticCache.from_url(redis_server.url, prefix="shared:") for _ in range(2)]
        await caches[0].ensure_index()
        post = PostProcessor()
        try:
            async with retrieval_task(task_a) as stub_a, retrieval_task(task_b) as stub_b:
                # Both orchestrators follow task b; task a takes the change (in AWS each follows
                # one task of many, chosen by Service Connect).
                watchers = [CatalogWatcher(stub_b, cache, post) for cache in caches]
                for watcher in watchers:
                    watcher.start()
                try:
                    answer = CacheEntry(
                        answer="Yes, Blue Lock volume 20 is in stock.",
                        intent="product_question",
                        model="haiku",
                        products=[{"asin": asin, "title": "Blue Lock", "price_jpy": 693}],
                        created_at=time.time(),
                    )
                    assert await caches[0].store(QUESTION, None, answer)
                    assert await caches[1].lookup_exact(QUESTION) is not None  # one shared store

                    async def connected() -> bool:
                        return all(w.stats.connected for w in watchers)

                    await eventually(connected, "the orchestrators did not reach task b's feed")

                    await stub_a.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=0), timeout=5)
                    # Task b does not know yet, so neither does any orchestrator...
                    assert await caches[1].lookup_exact(QUESTION) is not None
                    # ...until it reads the change from the index (its poll) and announces it on its feed.
                    assert await store_b.poll_stock() == [asin]
                    for cache in caches:
                        await eventually(
                            lambda cache=cache: _missing(cache), "a cached answer outlived the stock change"
                        )
                    # An answer written from before the change (a late fire-and-forget write) is refused.
                    assert not await caches[1].store(QUESTION, None, answer)
                finally:
                    for watcher in watchers:
                        await watcher.stop()
        finally:
            await post.drain(1.0)
            await caches[0].clear()
            for cache in caches:
                await cache.close()
            for _, store in tasks:
                await store.aclose()


async def _missing(cache: RedisSemanticCache) -> bool:
    return await cache.lookup_exact(QUESTION) is None
