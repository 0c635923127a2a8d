"""The in-process semantic cache (the embedded default): tiers, isolation, TTL, bounds, invalidation.

Embeddings here are small hand-made unit vectors (dim 4) so similarity is exact and known.
"""

from __future__ import annotations

import numpy as np
import pytest

from mangaassist.orchestrator.cache import CacheConfig, CacheEntry, CacheKey, InMemorySemanticCache

DIM = 4


def vec(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def entry(
    answer: str = "Yes, volume 3 is in stock.",
    asins: tuple[str, ...] = ("B0BERSERK3",),
    created_at: float = 1_000_000.0,
    intent: str = "product_question",
) -> CacheEntry:
    return CacheEntry(
        answer=answer,
        intent=intent,
        model="haiku",
        products=[{"asin": a, "title": "Berserk"} for a in asins],
        created_at=created_at,
    )


def key(
    text: str, language: str = "en", filters: dict[str, object] | None = None, intent: str = "product_question"
) -> CacheKey:
    return CacheKey(text=text, language=language, filters=filters or {}, intent=intent)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> InMemorySemanticCache:
    return InMemorySemanticCache(CacheConfig(threshold=0.9, ttl_s=60, dim=DIM, max_entries=100), clock=clock)


async def test_exact_tier_matches_normalised_text_language_and_filters(cache: InMemorySemanticCache) -> None:
    assert await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry())
    hit = await cache.lookup_exact(key("  is berserk volume 3 in stock ", intent=""))
    assert hit is not None and hit.tier == "exact" and hit.similarity == 1.0
    assert hit.entry.answer == "Yes, volume 3 is in stock."
    assert await cache.lookup_exact(key("Is Berserk volume 3 in stock?", language="ja")) is None
    assert await cache.lookup_exact(key("Is Berserk volume 3 in stock?", filters={"in_stock": True})) is None


async def test_semantic_hit_above_threshold_when_guards_agree(cache: InMemorySemanticCache) -> None:
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry())
    hit = await cache.lookup_semantic(key("Do you have Berserk vol. 3 in stock?"), vec(1, 0.2, 0, 0))
    assert hit is not None and hit.tier == "semantic"
    assert hit.similarity == pytest.approx(float(vec(1, 0, 0, 0) @ vec(1, 0.2, 0, 0)))
    assert await cache.lookup_semantic(key("Do you have Berserk vol. 3 in stock?"), vec(1, 1, 0, 0)) is None
    assert cache.stats()["semantic_hit"] == 1


async def test_negation_pair_misses_even_when_embeddings_are_identical(cache: InMemorySemanticCache) -> None:
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry())
    assert await cache.lookup_semantic(key("Is Berserk volume 3 out of stock?"), vec(1, 0, 0, 0)) is None
    assert await cache.lookup_semantic(key("Is Berserk volume 4 in stock?"), vec(1, 0, 0, 0)) is None
    assert cache.stats()["guard_reject"] == 2


async def test_a_later_neighbour_can_serve_when_the_nearest_fails_the_guards(cache: InMemorySemanticCache) -> None:
    await cache.store(key("Is Berserk volume 3 out of stock?"), vec(1, 0, 0, 0), entry("No, sold out."))
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0.3, 0, 0), entry("Yes."))
    hit = await cache.lookup_semantic(key("Is Berserk vol 3 in stock?"), vec(1, 0.05, 0, 0))
    assert hit is not None and hit.entry.answer == "Yes."


async def test_filters_language_and_intent_isolate_entries(cache: InMemorySemanticCache) -> None:
    await cache.store(
        key("sports manga", filters={"max_price_jpy": 1000}, intent="product_recommendation"),
        vec(0, 1, 0, 0),
        entry(intent="product_recommendation"),
    )
    same = key("sports manga please", filters={"max_price_jpy": 1000}, intent="product_recommendation")
    assert await cache.lookup_semantic(same, vec(0, 1, 0, 0)) is not None
    for other in (
        key("sports manga please", filters={"max_price_jpy": 2000}, intent="product_recommendation"),
        key("sports manga please", filters={}, intent="product_recommendation"),
        key("sports manga please", language="ja", filters={"max_price_jpy": 1000}, intent="product_recommendation"),
        key("sports manga please", filters={"max_price_jpy": 1000}, intent="product_search"),
    ):
        assert await cache.lookup_semantic(other, vec(0, 1, 0, 0)) is None


async def test_entries_expire_after_their_ttl(cache: InMemorySemanticCache, clock: Clock) -> None:
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry())
    clock.now += 59
    assert await cache.lookup_exact(key("Is Berserk volume 3 in stock?")) is not None
    clock.now += 2
    assert await cache.lookup_exact(key("Is Berserk volume 3 in stock?")) is None
    assert await cache.lookup_semantic(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0)) is None
    assert len(cache) == 0


async def test_size_is_bounded_least_recently_used_first(clock: Clock) -> None:
    cache = InMemorySemanticCache(CacheConfig(dim=DIM, max_entries=3), clock=clock)
    for i in range(3):
        await cache.store(key(f"Is Naruto volume {i} in stock?"), vec(1, i, 0, 0), entry(asins=(f"N{i}",)))
    assert await cache.lookup_exact(key("Is Naruto volume 0 in stock?")) is not None  # now most recent
    await cache.store(key("Is Naruto volume 9 in stock?"), vec(0, 0, 1, 0), entry(asins=("N9",)))
    assert len(cache) == 3
    assert await cache.lookup_exact(key("Is Naruto volume 1 in stock?")) is None
    assert await cache.lookup_exact(key("Is Naruto volume 0 in stock?")) is not None
    assert cache.stats()["evicted"] == 1


async def test_invalidation_drops_entries_that_mention_a_product(cache: InMemorySemanticCache) -> None:
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry(asins=("B3",)))
    await cache.store(key("Berserk volumes 3 and 4?"), vec(0, 1, 0, 0), entry(asins=("B3", "B4")))
    await cache.store(key("Is Naruto volume 1 in stock?"), vec(0, 0, 1, 0), entry(asins=("N1",)))
    assert await cache.invalidate_products(["B3"]) == 2
    assert await cache.lookup_exact(key("Is Berserk volume 3 in stock?")) is None
    assert await cache.lookup_semantic(key("Berserk volumes 3 and 4?"), vec(0, 1, 0, 0)) is None
    assert await cache.lookup_exact(key("Is Naruto volume 1 in stock?")) is not None
    assert await cache.invalidate_products(["B3", "unknown"]) == 0


async def test_an_answer_older_than_an_invalidation_is_not_stored(cache: InMemorySemanticCache, clock: Clock) -> None:
    read_at = clock.now
    clock.now += 1
    await cache.invalidate_products(["B3"])  # price changed while the answer was being written
    clock.now += 1
    assert not await cache.store(
        key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry(asins=("B3",), created_at=read_at)
    )
    assert await cache.store(
        key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry(asins=("B3",), created_at=clock.now)
    )
    assert cache.stats()["store_stale"] == 1


async def test_a_catalog_reset_drops_every_product_answer_and_keeps_shop_answers(
    cache: InMemorySemanticCache, clock: Clock
) -> None:
    read_at = clock.now
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry(asins=("B3",)))
    await cache.store(
        key("What is your return policy?"),
        vec(0, 1, 0, 0),
        entry(answer="Within 30 days.", asins=(), intent="return_refund"),
    )
    clock.now += 1
    assert await cache.invalidate_all_products() == 1
    assert await cache.lookup_exact(key("Is Berserk volume 3 in stock?")) is None
    assert await cache.lookup_exact(key("What is your return policy?")) is not None
    assert not await cache.store(
        key("Is Naruto volume 1 in stock?"), vec(0, 0, 1, 0), entry(asins=("N1",), created_at=read_at)
    )


async def test_uncacheable_requests_are_neither_stored_nor_served(cache: InMemorySemanticCache) -> None:
    assert not await cache.store(
        key("Where is my order 123?", intent="order_status"), vec(1, 0, 0, 0), entry(intent="order_status")
    )
    assert not await cache.store(key("Is it in stock?"), vec(1, 0, 0, 0), entry())
    assert not await cache.store(key("Is Berserk 3 in stock?"), vec(1, 0, 0, 0), entry(answer=""))
    assert len(cache) == 0
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry())
    assert await cache.lookup_semantic(key("Is it in stock?"), vec(1, 0, 0, 0)) is None


async def test_exact_only_entries_without_embedding(cache: InMemorySemanticCache) -> None:
    assert await cache.store(key("Is Berserk volume 3 in stock?"), None, entry())
    assert await cache.lookup_exact(key("Is Berserk volume 3 in stock?")) is not None
    assert await cache.lookup_semantic(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0)) is None


async def test_restore_replaces_the_previous_entry(cache: InMemorySemanticCache) -> None:
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0), entry("old"))
    await cache.store(key("Is Berserk volume 3 in stock?"), vec(0, 1, 0, 0), entry("new"))
    assert len(cache) == 1
    hit = await cache.lookup_semantic(key("Is Berserk volume 3 in stock?"), vec(0, 1, 0, 0))
    assert hit is not None and hit.entry.answer == "new"
    assert await cache.lookup_semantic(key("Is Berserk volume 3 in stock?"), vec(1, 0, 0, 0)) is None


@pytest.mark.parametrize("bad", [np.zeros(DIM), np.ones(DIM + 1), np.array([1, np.nan, 0, 0])])
async def test_bad_embeddings_are_rejected_clearly(cache: InMemorySemanticCache, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="embedding"):
        await cache.lookup_semantic(key("Is Berserk volume 3 in stock?"), bad)
    with pytest.raises(ValueError, match="embedding"):
        await cache.store(key("Is Berserk volume 3 in stock?"), bad, entry())


def test_config_is_validated() -> None:
    for kwargs in ({"threshold": 0}, {"threshold": 1.5}, {"ttl_s": 0}, {"k": 0}, {"max_entries": 0}):
        with pytest.raises(ValueError):
            CacheConfig(**kwargs)  # type: ignore[arg-type]
