"""RetrievalService servicer: embed the query once, hybrid filtered search, projected fields, cached results."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import grpc
import numpy as np
from opentelemetry import trace

from mangaassist.common.errors import ServiceError, invalid_argument
from mangaassist.common.text import normalise
from mangaassist.common.vocabulary import DEMOGRAPHICS, GENRES, LANGUAGES, STATUSES
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.cache import QueryCache
from mangaassist.retrieval.catalog import Product
from mangaassist.retrieval.changes import ChangeFeed, StockLevel
from mangaassist.retrieval.embedder import EmbeddingError
from mangaassist.retrieval.engine import CatalogIndex, SearchOutcome, Volume
from mangaassist.retrieval.linker import CatalogLinker, Link
from mangaassist.retrieval.opensearch import ErrorKind, OpenSearchError, OpenSearchStore
from mangaassist.retrieval.store import Filters

PRODUCT_FIELDS: frozenset[str] = frozenset(common_pb2.Product.DESCRIPTOR.fields_by_name)
VOLUME_FIELDS: frozenset[str] = frozenset(retrieval_pb2.Volume.DESCRIPTOR.fields_by_name)
MAX_AGE_RATING = 18  # the oldest age group a catalog rating names ("18+")
# The six fields the prompt needs (source-field selection, docs/decisions/0008-budgets-pools-breakers.md).
DEFAULT_FIELDS: tuple[str, ...] = ("asin", "title", "authors", "genres", "price_jpy", "synopsis_short")
# A remote store's failure as the status the orchestrator acts on (its breaker and last-good fallback
# see UNAVAILABLE / DEADLINE_EXCEEDED / RESOURCE_EXHAUSTED as transient; FAILED_PRECONDITION is an
# operator's problem: a missing index, refused credentials).
STORE_ERRORS: dict[ErrorKind, grpc.StatusCode] = {
    "timeout": grpc.StatusCode.DEADLINE_EXCEEDED,
    "throttled": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "rejected": grpc.StatusCode.FAILED_PRECONDITION,
}


def _range(f: common_pb2.SearchFilters, low: str, high: str, what: str) -> tuple[int | None, int | None]:
    """An optional inclusive range of the filters: non-negative, low not above high."""
    lo = getattr(f, low) if f.HasField(low) else None  # type: ignore[arg-type]
    hi = getattr(f, high) if f.HasField(high) else None  # type: ignore[arg-type]
    if (lo is not None and lo < 0) or (hi is not None and hi < 0):
        raise invalid_argument(f"{what} must not be negative")
    if lo is not None and hi is not None and lo > hi:
        raise invalid_argument(f"{low} is above {high}")
    return lo, hi


def to_filters(f: common_pb2.SearchFilters) -> Filters:
    """Validate request filters; unknown values are the caller's error, not an empty result."""
    unknown = sorted((set(f.genres) | set(f.excluded_genres) | set(f.all_genres)) - GENRES)
    if unknown:
        raise invalid_argument(f"unknown genre(s) {unknown}; known: {sorted(GENRES)}")
    if f.HasField("language") and f.language not in LANGUAGES:
        raise invalid_argument(f"language must be one of {sorted(LANGUAGES)}")
    if f.HasField("demographic") and f.demographic not in DEMOGRAPHICS:
        raise invalid_argument(f"demographic must be one of {sorted(DEMOGRAPHICS)}")
    lo, hi = _range(f, "min_price_jpy", "max_price_jpy", "prices")
    if f.HasField("status") and f.status not in STATUSES:
        raise invalid_argument(f"status must be one of {sorted(STATUSES)}")
    vlo, vhi = _range(f, "min_volumes", "max_volumes", "volume counts")
    if f.HasField("max_age_rating") and not 0 <= f.max_age_rating <= MAX_AGE_RATING:
        raise invalid_argument(f"max_age_rating must be between 0 and {MAX_AGE_RATING}")
    return Filters(
        genres=frozenset(f.genres),
        language=f.language if f.HasField("language") else None,
        in_stock=f.in_stock if f.HasField("in_stock") else None,
        min_price_jpy=lo,
        max_price_jpy=hi,
        demographic=f.demographic if f.HasField("demographic") else None,
        series_ids=frozenset(f.series_ids),
        exclude_series_ids=frozenset(f.exclude_series_ids),
        excluded_genres=frozenset(f.excluded_genres),
        status=f.status if f.HasField("status") else None,
        max_volumes=vhi,
        min_volumes=vlo,
    )


def _fill(message: Any, name: str, value: Any) -> None:
    if isinstance(value, list):
        getattr(message, name).extend(value)
    else:
        setattr(message, name, value)


def to_result(
    product: Product, score: float, fields: tuple[str, ...], with_volume: bool = False
) -> retrieval_pb2.ScoredProduct:
    """Only the requested fields go on the wire (OpenSearch's ``_source.includes``); the volume
    number too when the caller asked for a volume."""
    out = retrieval_pb2.ScoredProduct(score=score)
    product_msg = out.product
    for name in fields:
        if name == "volume":
            continue
        if name in PRODUCT_FIELDS:
            _fill(product_msg, name, product[name])
        else:
            _fill(out.volume, name, product[name])
    if with_volume:
        product_msg.volume = product["volume_number"]
    return out


def mention_message(link: Link) -> common_pb2.Mention:
    return common_pb2.Mention(
        series_id=link.series_id,
        kind=link.kind,
        name=link.name,
        score=link.score,
        start=link.start,
        end=link.end,
        author_series=link.author_series,
        fuzzy=link.fuzzy,
        relative_to=link.relative_to,
    )


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(
        self,
        default_k: int,
        max_k: int,
        max_query_chars: int,
        cache_entries: int = 4096,
        cache_ttl_s: float = 300.0,
        hybrid: bool = True,
    ) -> None:
        self._default_k = default_k
        self._max_k = max_k
        self._max_chars = max_query_chars
        self._hybrid = hybrid
        self._index: CatalogIndex | None = None
        self._linker: CatalogLinker | None = None
        self.cache: QueryCache[retrieval_pb2.SearchResponse] = QueryCache(cache_entries, cache_ttl_s)
        self.changes = ChangeFeed()
        # Query vectors by exact text: they depend on the embedder only, never on the catalog.
        self.embeddings: QueryCache[np.ndarray] = QueryCache(cache_entries, 3600.0)

    def ready(self, index: CatalogIndex, linker: CatalogLinker | None = None) -> None:
        replaced = self._index is not None
        self._index = index
        self._linker = linker
        self.cache.invalidate()
        if replaced:
            self.changes.reset()
        if isinstance(index.store, OpenSearchStore):
            index.store.on_stock_change = self.stock_changed_elsewhere

    def stock_changed_elsewhere(self, asins: list[str]) -> None:
        """The shared store's stock of ``asins`` (changed on another task) is now this
        task's: cached results are stale, and this task's followers hear of it."""
        self.cache.invalidate()
        self.changes.publish(asins)

    async def close(self) -> None:
        index = self._index
        if index is None:
            return
        for owner in (index.embedder, index.store):
            closer = getattr(owner, "aclose", None)
            if closer is not None:
                await closer()

    def _require_index(self) -> CatalogIndex:
        if self._index is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "index is still loading")
        return self._index

    async def _embed(self, index: CatalogIndex, text: str) -> np.ndarray:
        """The query's vector; repeated texts skip the model (it is most of a request's CPU).

        Keyed by the normalised text (NFKC, case-folded, spaces collapsed), which is also
        what is embedded: the vector is a function of its key, whoever asked first."""
        normalised = normalise(text)
        key = (index.embedder.name, normalised)
        cached = self.embeddings.get(key)
        if cached is not None:
            return cached
        try:
            vector = await index.embedder.aembed_query(index.query_text(normalised))
        except EmbeddingError as exc:
            code = grpc.StatusCode.RESOURCE_EXHAUSTED if exc.throttled else grpc.StatusCode.UNAVAILABLE
            raise ServiceError(code, str(exc)) from exc
        vector.setflags(write=False)  # shared by every later request for the same text
        self.embeddings.put(key, vector)
        return vector

    def _checked(self, value: str, what: str) -> str:
        """``value`` stripped; INVALID_ARGUMENT when that is empty or longer than the service takes."""
        text = value.strip()
        if not text:
            raise invalid_argument(f"{what} must not be empty")
        if len(text) > self._max_chars:
            raise invalid_argument(f"{what} longer than {self._max_chars} characters")
        return text

    async def Embed(
        self, request: retrieval_pb2.EmbedRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> retrieval_pb2.EmbedResponse:
        """The query vector, computed once per request so callers can reuse it (semantic cache, Search)."""
        index = self._require_index()
        text = self._checked(request.text, "text")
        t0 = time.perf_counter()
        vector = await self._embed(index, text)
        reply = retrieval_pb2.EmbedResponse(
            embedding=vector.tolist(), embedding_ms=(time.perf_counter() - t0) * 1000, model=index.embedder.name
        )
        if request.link and self._linker is not None:
            t1 = time.perf_counter()
            links = self._linker.link(text)
            reply.mentions.extend(mention_message(link) for link in links)
            reply.linking_ms = (time.perf_counter() - t1) * 1000
            span = trace.get_current_span()
            span.set_attribute("retrieval.mentions", len(links))
            # Which kinds of name matched (never the customer's words).
            span.set_attribute("retrieval.mention_kinds", sorted({link.kind for link in links}))
        return reply

    def _catalog_narrowed(self, f: common_pb2.SearchFilters, filters: Filters) -> Filters:
        """``by_authors_of`` narrowed to the works of those series' authors (the linker knows
        them for either store; unknown series name no works and match nothing), the series
        of ``excluded_kinds`` ruled out (by their catalog tags), and ``shorter_than`` /
        ``cheaper_than`` as a volume or price cap below those series'."""
        if f.HasField("max_age_rating") and self._linker is not None:
            # The reader's age group ("for my 6 year old"): no series rated for older readers.
            rated_above = self._linker.series_rated_above(f.max_age_rating)
            filters = replace(filters, exclude_series_ids=filters.exclude_series_ids | rated_above)
        if f.excluded_kinds and self._linker is not None:
            ruled_out = self._linker.series_of_kinds(f.excluded_kinds)
            filters = replace(filters, exclude_series_ids=filters.exclude_series_ids | ruled_out)
        if f.all_genres and self._linker is not None:
            # Kinds wanted together ("school setting" within romance): only the series with every
            # one of them (their catalog genres), like an author's works below.
            having = self._linker.series_of_every_genre(f.all_genres)
            filters = replace(filters, series_ids=filters.series_ids & having if filters.series_ids else having)
        if self._linker is not None and (f.shorter_than or f.cheaper_than):
            # "anything shorter / cheaper?" than a series: below its count or price (that edition)
            fewer = self._linker.below(f.shorter_than, filters.language, 0) if f.shorter_than else None
            lower = self._linker.below(f.cheaper_than, filters.language, 1) if f.cheaper_than else None
            filters = replace(
                filters,
                max_volumes=_capped(filters.max_volumes, fewer),
                max_price_jpy=_capped(filters.max_price_jpy, lower),
            )
        if not f.by_authors_of:
            return filters
        anchors = frozenset(f.by_authors_of)
        works = (self._linker.works_by_authors_of(anchors) if self._linker is not None else frozenset()) or anchors
        return replace(filters, series_ids=filters.series_ids & works if filters.series_ids else works)

    @staticmethod
    def _added_kinds_instead(f: common_pb2.SearchFilters) -> common_pb2.SearchFilters:
        """``f`` with the genres it adds (``all_genres``) as its genres, in place of its own."""
        wider = common_pb2.SearchFilters()
        wider.CopyFrom(f)
        del wider.genres[:]
        wider.genres.extend(f.all_genres)
        del wider.all_genres[:]
        return wider

    async def _every_genre_first(
        self, run: Callable[[Filters], Awaitable[SearchOutcome]], filters: Filters, k: int
    ) -> SearchOutcome:
        """Several genres asked for ("a romance that makes you cry", "cozy food manga"): the
        series with all of them first, then (to fill ``k``) those with any, as the filter says."""
        every = (
            self._linker.series_of_every_genre(filters.genres)
            if (len(filters.genres) > 1 and self._linker is not None)
            else frozenset()
        )
        if filters.series_ids:
            every &= filters.series_ids
        if not every:
            return await run(filters)
        first = await run(replace(filters, series_ids=every))
        if len(first.hits) >= k:
            return first
        rest = await run(replace(filters, exclude_series_ids=filters.exclude_series_ids | every))
        return replace(first, hits=[*first.hits, *rest.hits][:k], candidates=first.candidates + rest.candidates)

    async def Search(
        self, request: retrieval_pb2.SearchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> retrieval_pb2.SearchResponse:
        index = self._require_index()
        query = self._checked(request.query, "query")
        if request.k < 0 or request.k > self._max_k:
            raise invalid_argument(f"k must be between 1 and {self._max_k} (0 means the default, {self._default_k})")
        k = request.k or self._default_k
        fields = tuple(dict.fromkeys(request.fields)) or DEFAULT_FIELDS
        bad = sorted(set(fields) - PRODUCT_FIELDS - VOLUME_FIELDS)
        if bad:
            raise invalid_argument(f"unknown field(s) {bad}")
        filters = self._catalog_narrowed(request.filters, to_filters(request.filters))
        if request.HasField("volume") and request.volume < 0:
            raise invalid_argument("volume must not be negative")
        volume: Volume = "latest" if request.latest_volume else (request.volume if request.HasField("volume") else None)
        like = frozenset(request.like_series_ids)
        span = trace.get_current_span()
        span.set_attribute("retrieval.k", k)

        key = (normalise(query), filters, k, fields, index.version, volume, like)
        cached = self.cache.get(key)
        if cached is not None:
            span.set_attribute("retrieval.cache_hit", True)
            span.set_attribute("retrieval.plan", cached.plan)
            reply = retrieval_pb2.SearchResponse()
            reply.CopyFrom(cached)
            reply.cached = True
            reply.embedding_ms = 0.0
            reply.search_ms = 0.0
            return reply

        t0 = time.perf_counter()
        if request.query_embedding:
            if len(request.query_embedding) != index.embedder.dim:
                raise invalid_argument(f"query_embedding must have {index.embedder.dim} dimensions")
            vector = np.asarray(request.query_embedding, dtype=np.float32)
        else:
            vector = await self._embed(index, query)
        t1 = time.perf_counter()
        remaining = context.time_remaining() if context is not None else None

        async def run(f: Filters) -> SearchOutcome:
            if like:
                return await index.asimilar(like, k, f, timeout_s=remaining, volume=volume, query=query)
            return await index.asearch(query, vector, k, f, hybrid=self._hybrid, timeout_s=remaining, volume=volume)

        try:
            outcome = await self._every_genre_first(run, filters, k)
            if not outcome.hits and request.filters.all_genres:
                # No series has every kind asked for: those of the kinds added last (the
                # customer's latest words), in place of the ones they were added to.
                added = self._added_kinds_instead(request.filters)
                outcome = await self._every_genre_first(run, self._catalog_narrowed(added, to_filters(added)), k)
        except OpenSearchError as exc:
            raise ServiceError(STORE_ERRORS[exc.kind], str(exc)) from exc
        t2 = time.perf_counter()

        span.set_attribute("retrieval.cache_hit", False)
        span.set_attribute("retrieval.plan", outcome.plan)
        if outcome.partition:
            span.set_attribute("retrieval.partition", outcome.partition)
        span.set_attribute("retrieval.hybrid", outcome.lexical)
        span.set_attribute("retrieval.hits", len(outcome.hits))
        span.set_attribute("retrieval.candidates", outcome.candidates)
        reply = retrieval_pb2.SearchResponse(
            results=[to_result(index.products[h.doc], h.score, fields, volume is not None) for h in outcome.hits],
            query_embedding=vector.tolist(),
            embedding_ms=0.0 if request.query_embedding else (t1 - t0) * 1000,
            search_ms=(t2 - t1) * 1000,
            candidates=outcome.candidates,
            plan=outcome.plan,
            lexical=outcome.lexical,
        )
        if index.version == key[4]:
            self.cache.put(key, reply)
        return reply

    async def UpdateStock(
        self, request: retrieval_pb2.UpdateStockRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> retrieval_pb2.UpdateStockResponse:
        self._require_index()
        if request.stock_count < 0:
            raise invalid_argument("stock_count must not be negative")
        before = self.changes.level(request.asin)
        # Set here, now: newer than any level this replica holds (a peer's clock may run ahead).
        version = max(time.time_ns(), before.version + 1 if before is not None else 0)
        if not await self.apply_stock(StockLevel(request.asin, request.stock_count, version, self.changes.epoch)):
            raise ServiceError(grpc.StatusCode.NOT_FOUND, "no product with that asin")
        return retrieval_pb2.UpdateStockResponse(in_stock=request.stock_count > 0)

    async def apply_stock(self, level: StockLevel) -> bool:
        """Apply one stock level (set here, or a peer replica's): the index, the result cache and
        the change feed; a remote store gets the row's new stock fields now. False for an
        unknown asin. A level no newer than the one held is skipped (True: nothing to do)."""
        index = self._require_index()
        if not level.newer_than(self.changes.level(level.asin)):
            return True
        if not index.update_stock(level.asin, level.stock_count):
            return False
        self.cache.invalidate()
        self.changes.publish([level.asin], [level])  # applied here: answers about it are stale either way
        sync = getattr(index.store, "sync_stock", None)
        if sync is not None:
            try:
                await sync()
            except OpenSearchError as exc:
                raise ServiceError(STORE_ERRORS[exc.kind], str(exc)) from exc
        return True

    async def WatchCatalogChanges(
        self, request: retrieval_pb2.WatchCatalogChangesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[retrieval_pb2.CatalogChange]:
        if request.after_seq < 0:
            raise invalid_argument("after_seq must not be negative")
        async for change in self.changes.follow(request.epoch, request.after_seq, request.with_stock):
            yield retrieval_pb2.CatalogChange(
                epoch=change.epoch,
                seq=change.seq,
                asins=change.asins,
                reset=change.reset,
                stock=[
                    retrieval_pb2.StockLevel(
                        asin=lv.asin, stock_count=lv.stock_count, version=lv.version, origin=lv.origin
                    )
                    for lv in change.levels
                ],
            )


def _capped(limit: int | None, cap: int | None) -> int | None:
    """The tighter of a limit and a cap (either may be absent)."""
    return limit if cap is None else cap if limit is None else min(limit, cap)
