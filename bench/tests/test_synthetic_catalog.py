"""The synthetic benchmark catalog: deterministic, realistic shares, every catalog field."""

from __future__ import annotations

import numpy as np

from bench.synthetic_catalog import generate, vectors
from mangaassist.retrieval.catalog import DOCUMENT_FIELDS
from mangaassist.retrieval.store import Filters, PlannedStore


def test_generator_is_deterministic_and_shaped_like_the_shop() -> None:
    a, b = generate(20_000, seed=4), generate(20_000, seed=4)
    assert len(a) == 20_000
    assert np.array_equal(a.series, b.series) and np.array_equal(a.price_jpy, b.price_jpy)
    assert not np.array_equal(generate(20_000, seed=5).price_jpy, a.price_jpy)
    assert 0.5 < np.mean(a.language == "ja") < 0.7
    assert 0.8 < np.mean(a.stock_count > 0) < 0.9
    assert np.mean(a.demographic == "shonen") > np.mean(a.demographic == "kodomo")
    assert a.price_jpy[a.language == "ja"].max() < a.price_jpy[a.language == "en"].min()
    # Volumes number 1..n within each series, released in order.
    first = a.series == a.series[5000]
    assert list(a.volume_number[first]) == list(range(1, int(first.sum()) + 1))
    assert np.all(np.diff(a.release_day[first]) > 0)
    doc = a.document(1234)
    assert set(DOCUMENT_FIELDS) <= set(doc) and doc["in_stock"] == (doc["stock_count"] > 0)


def test_vectors_are_unit_and_clustered_by_series() -> None:
    catalog = generate(3_000, seed=1)
    anchors = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    anchors /= np.linalg.norm(anchors, axis=1, keepdims=True)
    v = vectors(catalog, anchors, seed=1)
    assert v.shape == (3_000, 16) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    same = catalog.series[:-1] == catalog.series[1:]
    neighbours = np.sum(v[:-1] * v[1:], axis=1)
    assert neighbours[same].mean() > neighbours[~same].mean() + 0.2
    # The columns drive the same filters as the real catalog.
    store = PlannedStore(catalog.columns(), v)
    result = store.search(v[0], 5, Filters(language="en", in_stock=True))
    assert result.candidates == int(np.sum((catalog.language == "en") & (catalog.stock_count > 0)))
    assert all(catalog.language[r] == "en" and catalog.stock_count[r] > 0 for r, _ in result.hits)
