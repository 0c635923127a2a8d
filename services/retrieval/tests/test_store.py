"""Exact filtered search: filters hold exactly and k hits come back whenever k match.

Unit test with synthetic products and random unit vectors (no model involved).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mangaassist.retrieval.catalog import Product
from mangaassist.retrieval.store import ExactStore, Filters


def synthetic_products(n: int) -> list[Product]:
    genres = ["fantasy", "horror", "romance", "sports", "comedy"]
    return [
        {
            "language": "ja" if i % 2 else "en",
            "demographic": ["shonen", "seinen", "shojo"][i % 3],
            "price_jpy": 400 + (i * 37) % 2600,
            "in_stock": i % 5 != 0,
            "genres": [genres[i % 5], genres[(i * 3) % 5]],
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def store_and_products() -> tuple[ExactStore, list[Product], np.ndarray]:
    rng = np.random.default_rng(3)
    products = synthetic_products(500)
    vectors = rng.normal(size=(500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ExactStore(products, vectors), products, vectors


FILTERS = [
    Filters(),
    Filters(language="ja"),
    Filters(in_stock=True, max_price_jpy=1000),
    Filters(genres=frozenset({"horror"}), language="en"),
    Filters(genres=frozenset({"romance", "sports"}), min_price_jpy=1500, in_stock=False),
    Filters(demographic="seinen", max_price_jpy=600),
]


def matches(p: Product, f: Filters) -> bool:
    return (
        (not f.genres or bool(f.genres & set(p["genres"])))
        and (f.language is None or p["language"] == f.language)
        and (f.demographic is None or p["demographic"] == f.demographic)
        and (f.in_stock is None or p["in_stock"] == f.in_stock)
        and (f.min_price_jpy is None or p["price_jpy"] >= f.min_price_jpy)
        and (f.max_price_jpy is None or p["price_jpy"] <= f.max_price_jpy)
    )


@pytest.mark.parametrize(("f", "k"), list(itertools.product(FILTERS, [1, 5, 20])))
def test_filters_hold_and_results_equal_brute_force(store_and_products, f: Filters, k: int) -> None:  # type: ignore[no-untyped-def]
    store, products, vectors = store_and_products
    query = vectors[11] * 0.6 + vectors[42] * 0.4
    hits, candidates = store.search(query, k, f)
    eligible = [i for i, p in enumerate(products) if matches(p, f)]
    assert candidates == len(eligible)
    assert len(hits) == min(k, len(eligible))
    assert all(matches(products[i], f) for i, _ in hits)
    expected = sorted(eligible, key=lambda i: -float(vectors[i] @ query))[: len(hits)]
    assert [i for i, _ in hits] == expected
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)


def test_filter_matching_nothing_returns_nothing(store_and_products) -> None:  # type: ignore[no-untyped-def]
    store, _, vectors = store_and_products
    assert store.search(vectors[0], 5, Filters(max_price_jpy=1)) == ([], 0)
