"""Partition (shard-routing) analogue: a query filtered on the routing key touches one partition.

Unit tests on synthetic products and clustered vectors (no model), plus the saved index and
the span attribute on the real catalog with the hashing embedder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2
from mangaassist.retrieval.catalog import Product
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import HashingEmbedder
from mangaassist.retrieval.engine import build_index, load_index, save_index
from mangaassist.retrieval.service import RetrievalServicer
from mangaassist.retrieval.store import FilterColumns, Filters, HnswIndex, PartitionedStore, PlannedStore
from services.retrieval.tests.test_store import FILTERS, clustered, matches, synthetic_products


@pytest.fixture(scope="module")
def data() -> tuple[list[Product], np.ndarray]:
    return synthetic_products(3000), clustered(3000, 32, 5)


def partitioned(products: list[Product], vectors: np.ndarray, key: str, graphs: bool = False) -> PartitionedStore:
    build = (lambda v: HnswIndex.build(v, m=16, ef_construction=80, ef_search=64)) if graphs else None
    return PartitionedStore(
        FilterColumns.from_products(products),
        vectors,
        np.arange(len(products)),
        key,
        build,
        exact_max_rows=0,
        exact_max_fraction=0.05,
    )


def count_calls(store: PartitionedStore) -> dict[str, int]:
    calls = dict.fromkeys(store.parts, 0)
    for value, part in store.parts.items():
        inner = part.store.search

        def counted(*args: Any, _inner: Any = inner, _value: str = value, **kwargs: Any) -> Any:
            calls[_value] += 1
            return _inner(*args, **kwargs)

        part.store.search = counted  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("key", ["language", "demographic"])
def test_routed_queries_touch_one_partition_and_equal_exact(data, key: str) -> None:  # type: ignore[no-untyped-def]
    products, vectors = data
    store = partitioned(products, vectors, key)
    exact = PlannedStore(products, vectors)
    calls = count_calls(store)
    assert set(store.parts) == {p[key] for p in products}
    for f in FILTERS:
        query = vectors[17] * 0.6 + vectors[401] * 0.4
        got = store.search(query, 10, f)
        want = exact.search(query, 10, f)
        assert [r for r, _ in got.hits] == [r for r, _ in want.hits] and got.candidates == want.candidates
        assert all(matches(products[r], f) for r, _ in got.hits)
        value = getattr(f, key)
        if value is None:  # no routing value: every partition, merged by score
            assert got.partition == "*" and set(calls.values()) == {1}
        else:
            assert got.partition == f"{key}={value}"
            assert calls[value] == 1 and sum(calls.values()) == 1  # the other partitions were not touched
        calls.update(dict.fromkeys(calls, 0))
    nothing = store.search(vectors[0], 5, Filters(language="fr") if key == "language" else Filters(demographic="x"))
    assert nothing.hits == [] and nothing.candidates == 0


def test_partition_graphs_search_with_high_recall(data) -> None:  # type: ignore[no-untyped-def]
    products, vectors = data
    store = partitioned(products, vectors, "language", graphs=True)
    exact = PlannedStore(products, vectors)
    found = total = 0
    plans = set()
    for q in range(0, 3000, 75):
        for f in (Filters(language="ja"), Filters(language="en", in_stock=True), Filters()):
            got = store.search(vectors[q], 5, f)
            want = exact.search(vectors[q], 5, f)
            plans.add(got.plan)
            found += len({r for r, _ in got.hits} & {r for r, _ in want.hits})
            total += len(want.hits)
    assert "hnsw" in plans and found / total >= 0.95


def test_stock_changes_reach_the_partition(data) -> None:  # type: ignore[no-untyped-def]
    products, vectors = data
    store = partitioned(products, vectors, "language")
    f = Filters(language=products[7]["language"], in_stock=True)
    store.set_in_stock(7, True)
    assert 7 in [r for r, _ in store.search(vectors[7], 3, f).hits]
    store.set_in_stock(7, False)
    assert 7 not in [r for r, _ in store.search(vectors[7], 3, f).hits]
    assert 7 in [r for r, _ in store.search(vectors[7], 3, Filters(language=f.language, in_stock=False)).hits]


def test_a_row_must_not_straddle_partitions(data) -> None:  # type: ignore[no-untyped-def]
    products, vectors = data
    rows = np.repeat(np.arange(1500), 2)  # documents 2i and 2i+1 share a row but differ in language
    with pytest.raises(ValueError, match="share one language"):
        PartitionedStore(FilterColumns.from_products(products), vectors[:1500], rows, "language")
    with pytest.raises(ValueError, match="partition key"):
        PartitionedStore(FilterColumns.from_products(products), vectors, np.arange(3000), "genres")


async def test_saved_partitioned_index_and_the_span(tmp_path: Path) -> None:
    path = RetrievalSettings().catalog_path
    embedder = HashingEmbedder(64)
    index = build_index(path, embedder, tmp_path, partition_by="language", m=16, ef_construction=40)
    assert isinstance(index.store, PartitionedStore) and set(index.store.graphs()) == {"ja", "en"}
    save_index(index, path, tmp_path)
    assert load_index(path, embedder, tmp_path) is None  # saved partitioned: an unpartitioned load rebuilds
    assert load_index(path, embedder, tmp_path, partition_by="language", m=32) is None  # other graph settings
    loaded = load_index(path, embedder, tmp_path, partition_by="language", m=16, ef_construction=40)
    assert loaded is not None and isinstance(loaded.store, PartitionedStore)
    v = embedder.embed_query("Blue Lock volume 20")
    f = Filters(language="en")
    assert loaded.search("Blue Lock volume 20", v, 5, f).hits == index.search("Blue Lock volume 20", v, 5, f).hits

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    servicer = RetrievalServicer(5, 100, 2000, cache_entries=0)
    servicer.ready(loaded)
    context: Any = None
    with provider.get_tracer("test").start_as_current_span("vector-search"):
        reply = await servicer.Search(
            retrieval_pb2.SearchRequest(query="Blue Lock volume 20", filters=common_pb2.SearchFilters(language="en")),
            context,
        )
    with provider.get_tracer("test").start_as_current_span("vector-search"):
        await servicer.Search(retrieval_pb2.SearchRequest(query="dark fantasy"), context)
    assert reply.results[0].product.title == "Blue Lock"
    routed, fanned = exporter.get_finished_spans()
    assert routed.attributes is not None and fanned.attributes is not None
    assert (
        routed.attributes["retrieval.partition"] == "language=en" and routed.attributes["retrieval.plan"] == reply.plan
    )
    assert fanned.attributes["retrieval.partition"] == "*"
