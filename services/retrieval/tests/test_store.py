"""Filtered vector search: filters hold, k hits come back whenever k rows match, HNSW agrees with exact.

Unit test with synthetic products and random clustered unit vectors (no model involved).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mangaassist.retrieval.catalog import Product
from mangaassist.retrieval.store import ExactIndex, Filters, HnswIndex, PlannedStore


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


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    v = centres[rng.integers(0, 20, n)] + 0.6 * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def setup() -> tuple[list[Product], np.ndarray, HnswIndex]:
    products = synthetic_products(3000)
    vectors = clustered(3000, 32, 3)
    return products, vectors, HnswIndex.build(vectors, m=16, ef_construction=80, ef_search=64)


FILTERS = [  # the fifth and sixth match ~1-3 % of documents
    Filters(),
    Filters(language="ja"),
    Filters(in_stock=True, max_price_jpy=1000),
    Filters(genres=frozenset({"horror"}), language="en"),
    Filters(genres=frozenset({"romance", "sports"}), min_price_jpy=1500, in_stock=True),
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
def test_exact_plan_equals_brute_force(setup, f: Filters, k: int) -> None:  # type: ignore[no-untyped-def]
    products, vectors, _ = setup
    store = PlannedStore(products, vectors)
    query = vectors[11] * 0.6 + vectors[42] * 0.4
    result = store.search(query, k, f)
    eligible = [i for i, p in enumerate(products) if matches(p, f)]
    assert result.plan == "exact" and result.candidates == len(eligible)
    assert len(result.hits) == min(k, len(eligible))
    expected = sorted(eligible, key=lambda i: -float(vectors[i] @ query))[: len(result.hits)]
    assert [i for i, _ in result.hits] == expected


@pytest.mark.parametrize("f", FILTERS)
def test_planned_search_filters_during_search_with_high_recall(setup, f: Filters) -> None:  # type: ignore[no-untyped-def]
    products, vectors, hnsw = setup
    # Filters matching under 10 % of rows go exact; the rest walk the graph with the filter.
    store = PlannedStore(products, vectors, hnsw=hnsw, exact_max_rows=0, exact_max_fraction=0.1)
    rng = np.random.default_rng(7)
    found = total = 0
    for q in rng.integers(0, len(products), 40):
        query = vectors[q]
        got = store.search(query, 5, f)
        want = store.search(query, 5, f, plan="exact")
        if want.candidates == 0:
            continue
        assert got.plan == ("exact" if want.candidates < 300 else "hnsw")
        # In-graph filtering: every hit passes, and k hits whenever k documents match.
        assert all(matches(products[i], f) for i, _ in got.hits)
        assert len(got.hits) == len(want.hits) == min(5, want.candidates)
        found += len({i for i, _ in got.hits} & {i for i, _ in want.hits})
        total += len(want.hits)
    assert total > 0 and found / total >= 0.95


def test_unfiltered_hnsw_needs_no_fallback(setup) -> None:  # type: ignore[no-untyped-def]
    products, vectors, hnsw = setup
    store = PlannedStore(products, vectors, hnsw=hnsw, exact_max_rows=0, exact_max_fraction=0.0)
    assert {store.search(vectors[q], 5, Filters(language="ja")).plan for q in range(20)} == {"hnsw"}


def test_planner_picks_exact_for_selective_filters(setup) -> None:  # type: ignore[no-untyped-def]
    products, vectors, hnsw = setup
    store = PlannedStore(products, vectors, hnsw=hnsw, exact_max_rows=100, exact_max_fraction=0.0)
    assert store.search(vectors[0], 5, Filters()).plan == "hnsw"
    selective = Filters(demographic="seinen", max_price_jpy=600, in_stock=True)
    result = store.search(vectors[0], 5, selective)
    assert result.candidates <= 100 and result.plan == "exact"


def test_filter_matching_nothing_returns_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    products, vectors, hnsw = setup
    store = PlannedStore(products, vectors, hnsw=hnsw)
    result = store.search(vectors[0], 5, Filters(max_price_jpy=1))
    assert result.hits == [] and result.candidates == 0


def test_documents_sharing_a_row_are_one_hit(setup) -> None:  # type: ignore[no-untyped-def]
    products, vectors, _ = setup
    # 3 documents per row: a row matches when any of its documents does.
    rows = np.repeat(np.arange(1000), 3)
    store = PlannedStore(products, vectors[:1000], doc_rows=rows)
    result = store.search(vectors[5], 10, Filters(language="ja"))
    assert len({r for r, _ in result.hits}) == 10
    for r, _ in result.hits:
        assert any(products[d]["language"] == "ja" for d in range(3 * r, 3 * r + 3))


def test_saved_graph_answers_the_same(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, vectors, hnsw = setup
    hnsw.save(str(tmp_path / "g.faiss"))
    again = HnswIndex.load(str(tmp_path / "g.faiss"), ef_search=64)
    mask = np.zeros(len(vectors), dtype=bool)
    mask[::3] = True
    assert again.search(vectors[9], 5, mask) == hnsw.search(vectors[9], 5, mask)


def test_exact_scores_rows_in_place_like_a_gather(setup) -> None:  # type: ignore[no-untyped-def]
    _, vectors, _ = setup
    exact = ExactIndex(vectors)
    rows = np.array([2999, 0, 17, 17, 1500, 4], dtype=np.int64)  # any order, repeats allowed
    query = (vectors[5] + vectors[9]).astype(np.float64)  # any float dtype
    np.testing.assert_allclose(exact.scores(query, rows), vectors[rows] @ query.astype(np.float32), rtol=1e-5)
    assert exact.scores(query, np.empty(0, dtype=np.int64)).size == 0
    with pytest.raises(IndexError):
        exact.scores(query, np.array([0, 3000]))
    with pytest.raises(IndexError):
        exact.scores(query, np.array([-1]))
    with pytest.raises(ValueError, match="dimensions"):
        exact.scores(query[:8], rows)


def test_quantized_walk_keeps_recall_and_returns_exact_scores(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    products, vectors, _ = setup
    graph = HnswIndex.build(vectors, m=16, ef_construction=80, ef_search=64)
    graph.save(str(tmp_path / "g.faiss"))
    store = PlannedStore(products, vectors, hnsw=graph, exact_max_rows=0, exact_max_fraction=0.1)
    flat_links = graph.index.hnsw.neighbors.size()
    store.set_hnsw_storage("sq8")
    assert graph.quantized and graph.rerank is store.exact
    assert graph.index.hnsw.neighbors.size() == flat_links  # the same graph, walked on 8-bit codes
    import gc

    gc.collect()  # the flat index is gone; the graph copy must not depend on it
    rng = np.random.default_rng(11)
    found = total = 0
    for f in FILTERS[:3]:
        for q in rng.integers(0, len(products), 30):
            query = vectors[q] * 0.7 + vectors[(q * 7) % len(products)] * 0.3
            got = store.search(query, 5, f)
            want = store.search(query, 5, f, plan="exact")
            assert got.plan == "hnsw" and all(matches(products[i], f) for i, _ in got.hits)
            for row, score in got.hits:  # scores are the float32 inner products, not the codes'
                assert score == pytest.approx(float(vectors[row] @ query), abs=1e-5)
            assert [s for _, s in got.hits] == sorted((s for _, s in got.hits), reverse=True)
            found += len({i for i, _ in got.hits} & {i for i, _ in want.hits})
            total += len(want.hits)
    assert found / total >= 0.95
    store.set_hnsw_storage("sq8")  # idempotent
    with pytest.raises(ValueError, match="cannot go back"):
        store.set_hnsw_storage("flat")
    with pytest.raises(ValueError, match="'flat' or 'sq8'"):
        store.set_hnsw_storage("pq")
    # A saved flat graph loads flat again; quantizing needs the very vectors it was built from.
    reloaded = HnswIndex.load(str(tmp_path / "g.faiss"))
    assert not reloaded.quantized
    with pytest.raises(ValueError, match="not the ones"):
        reloaded.quantize(vectors[:10], store.exact)


def test_series_status_volume_and_exclusion_filters() -> None:
    """The dialogue's constraints as filters: one series, not these series or genres, a status,
    a volume count."""
    from mangaassist.retrieval.store import FilterColumns, Filters

    docs = [
        {
            "language": "ja",
            "demographic": "shonen",
            "price_jpy": 500,
            "in_stock": True,
            "genres": ["action"],
            "series_id": "a",
            "status": "completed",
            "volumes": 5,
        },
        {
            "language": "en",
            "demographic": "shonen",
            "price_jpy": 900,
            "in_stock": True,
            "genres": ["horror"],
            "series_id": "b",
            "status": "ongoing",
            "volumes": 30,
        },
        {
            "language": "ja",
            "demographic": "seinen",
            "price_jpy": 700,
            "in_stock": False,
            "genres": ["romance"],
            "series_id": "c",
            "status": "completed",
            "volumes": 12,
        },
    ]
    columns = FilterColumns.from_products(docs)

    def rows(f: Filters) -> list[int]:
        mask = columns.mask(f)
        return list(range(3)) if mask is None else [i for i in range(3) if mask[i]]

    assert rows(Filters(series_ids=frozenset({"b", "c"}))) == [1, 2]
    assert rows(Filters(exclude_series_ids=frozenset({"a"}))) == [1, 2]
    assert rows(Filters(excluded_genres=frozenset({"horror"}))) == [0, 2]
    assert rows(Filters(status="completed")) == [0, 2]
    assert rows(Filters(max_volumes=12)) == [0, 2] and rows(Filters(min_volumes=13)) == [1]
    assert rows(Filters(series_ids=frozenset({"zzz"}))) == []
