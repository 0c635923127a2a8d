"""RetrievalService servicer: embed the query once, filter exactly, return chosen fields."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
from opentelemetry import trace

from mangaassist.common.errors import ServiceError, invalid_argument
from mangaassist.common.vocabulary import DEMOGRAPHICS, GENRES, LANGUAGES
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.catalog import Product
from mangaassist.retrieval.embedder import Embedder
from mangaassist.retrieval.store import Filters, VectorStore

PRODUCT_FIELDS: frozenset[str] = frozenset(common_pb2.Product.DESCRIPTOR.fields_by_name)
# The six fields the prompt needs (the seed's source-field selection).
DEFAULT_FIELDS: tuple[str, ...] = ("asin", "title", "authors", "genres", "price_jpy", "synopsis_short")


@dataclass(frozen=True)
class Index:
    products: list[Product]
    store: VectorStore
    embedder: Embedder


def to_filters(f: common_pb2.SearchFilters) -> Filters:
    """Validate request filters; unknown values are the caller's error, not an empty result."""
    unknown = sorted(set(f.genres) - GENRES)
    if unknown:
        raise invalid_argument(f"unknown genre(s) {unknown}; known: {sorted(GENRES)}")
    if f.HasField("language") and f.language not in LANGUAGES:
        raise invalid_argument(f"language must be one of {sorted(LANGUAGES)}")
    if f.HasField("demographic") and f.demographic not in DEMOGRAPHICS:
        raise invalid_argument(f"demographic must be one of {sorted(DEMOGRAPHICS)}")
    lo = f.min_price_jpy if f.HasField("min_price_jpy") else None
    hi = f.max_price_jpy if f.HasField("max_price_jpy") else None
    if (lo is not None and lo < 0) or (hi is not None and hi < 0):
        raise invalid_argument("prices must not be negative")
    if lo is not None and hi is not None and lo > hi:
        raise invalid_argument("min_price_jpy is above max_price_jpy")
    return Filters(
        genres=frozenset(f.genres),
        language=f.language if f.HasField("language") else None,
        in_stock=f.in_stock if f.HasField("in_stock") else None,
        min_price_jpy=lo,
        max_price_jpy=hi,
        demographic=f.demographic if f.HasField("demographic") else None,
    )


def to_proto(product: Product, fields: tuple[str, ...]) -> common_pb2.Product:
    message = common_pb2.Product()
    for name in fields:
        value = product[name]
        if isinstance(value, list):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(self, default_k: int, max_k: int, max_query_chars: int) -> None:
        self._default_k = default_k
        self._max_k = max_k
        self._max_chars = max_query_chars
        self._index: Index | None = None
        # One thread: the embedding model is a shared native object; calls queue up here
        # instead of contending, and the event loop stays free.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")

    def ready(self, index: Index) -> None:
        self._index = index

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _embed(self, index: Index, text: str) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self._executor, index.embedder.embed_query, text)

    async def Embed(
        self, request: retrieval_pb2.EmbedRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> retrieval_pb2.EmbedResponse:
        index = self._index
        if index is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "index is still loading")
        text = request.text.strip()
        if not text:
            raise invalid_argument("text must not be empty")
        if len(text) > self._max_chars:
            raise invalid_argument(f"text longer than {self._max_chars} characters")
        t0 = time.perf_counter()
        vector = await self._embed(index, text)
        return retrieval_pb2.EmbedResponse(
            embedding=vector.tolist(), embedding_ms=(time.perf_counter() - t0) * 1000, model=index.embedder.name
        )

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> retrieval_pb2.SearchResponse:
        index = self._index
        if index is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "index is still loading")
        query = request.query.strip()
        if not query:
            raise invalid_argument("query must not be empty")
        if len(query) > self._max_chars:
            raise invalid_argument(f"query longer than {self._max_chars} characters")
        if request.k < 0 or request.k > self._max_k:
            raise invalid_argument(f"k must be between 1 and {self._max_k}")
        k = request.k or self._default_k
        fields = tuple(dict.fromkeys(request.fields)) or DEFAULT_FIELDS
        bad = sorted(set(fields) - PRODUCT_FIELDS)
        if bad:
            raise invalid_argument(f"unknown field(s) {bad}")
        filters = to_filters(request.filters)

        t0 = time.perf_counter()
        if request.query_embedding:
            if len(request.query_embedding) != index.embedder.dim:
                raise invalid_argument(f"query_embedding must have {index.embedder.dim} dimensions")
            vector = np.asarray(request.query_embedding, dtype=np.float32)
        else:
            vector = await self._embed(index, query)
        t1 = time.perf_counter()
        hits, candidates = index.store.search(vector, k, filters)
        t2 = time.perf_counter()

        span = trace.get_current_span()
        span.set_attribute("retrieval.k", k)
        span.set_attribute("retrieval.hits", len(hits))
        span.set_attribute("retrieval.candidates", candidates)
        return retrieval_pb2.SearchResponse(
            results=[
                retrieval_pb2.ScoredProduct(product=to_proto(index.products[i], fields), score=score)
                for i, score in hits
            ],
            query_embedding=vector.tolist(),
            embedding_ms=(t1 - t0) * 1000 if not request.query_embedding else 0.0,
            search_ms=(t2 - t1) * 1000,
            candidates=candidates,
        )
