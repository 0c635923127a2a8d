"""Retrieval over real gRPC (the shared cluster): projection, k rules, plan, cache and its invalidation."""

from __future__ import annotations

import grpc
import pytest

from mangaassist.devtools.cluster import Cluster


def test_search_projection_plan_cache_and_stock_invalidation(cluster: Cluster) -> None:
    from mangaassist.proto.common.v1 import common_pb2
    from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

    with grpc.insecure_channel(cluster.address("retrieval")) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        request = retrieval_pb2.SearchRequest(
            query="Blue Lock volume 20",
            k=3,
            fields=["asin", "title", "volume_number", "release_date", "in_stock"],
            filters=common_pb2.SearchFilters(language="en"),
        )
        first = stub.Search(request, timeout=10)
        top = first.results[0]
        assert top.product.title == "Blue Lock" and top.volume.volume_number == 20
        assert [f.name for f, _ in top.product.ListFields()] == ["asin", "title", "in_stock"]
        assert [f.name for f, _ in top.volume.ListFields()] == ["volume_number", "release_date"]
        assert first.plan in ("exact", "hnsw") and not first.cached and len(first.query_embedding) == 384

        # The same query, spelled differently, is a cache hit with the same answer.
        again = stub.Search(
            retrieval_pb2.SearchRequest(
                query="  BLUE LOCK   volume 20 ", k=3, fields=request.fields, filters=request.filters
            ),
            timeout=10,
        )
        assert again.cached and list(again.results) == list(first.results)
        assert list(again.query_embedding) == list(first.query_embedding)

        # A stock change drops cached results: the in-stock filter sees the new stock at once.
        asin = top.product.asin
        stocked = retrieval_pb2.SearchRequest(
            query="Blue Lock volume 20",
            k=3,
            fields=["asin", "volume_number"],
            filters=common_pb2.SearchFilters(language="en", in_stock=True),
        )
        original = top.product.in_stock
        try:
            stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=0), timeout=10)
            sold_out = stub.Search(stocked, timeout=10)
            assert not sold_out.cached and asin not in [h.product.asin for h in sold_out.results]
            stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=5), timeout=10)
            restocked = stub.Search(stocked, timeout=10)
            assert not restocked.cached and restocked.results[0].product.asin == asin
        finally:
            stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=7 if original else 0), timeout=10)

        # k = 0 means the default (5); negative or above 100 is the caller's error.
        assert len(stub.Search(retrieval_pb2.SearchRequest(query="ninja"), timeout=10).results) == 5
        for k in (-1, 101):
            with pytest.raises(grpc.RpcError) as err:
                stub.Search(retrieval_pb2.SearchRequest(query="ninja", k=k), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        for bad in (
            retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=-1),
            retrieval_pb2.UpdateStockRequest(asin="nope", stock_count=1),
        ):
            with pytest.raises(grpc.RpcError) as err:
                stub.UpdateStock(bad, timeout=10)
            assert err.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)  # type: ignore[attr-defined]
