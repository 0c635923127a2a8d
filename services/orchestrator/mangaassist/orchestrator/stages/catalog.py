"""The catalog stage: the search the resolved turn asks for, the last-good fallback, and the
product cards the customer sees."""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from mangaassist.common import spans
from mangaassist.common.messages import copy_present
from mangaassist.common.resilience import BreakerOpenError, BulkheadFullError
from mangaassist.common.telemetry import outgoing_metadata
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dialogue import SearchPlan
from mangaassist.orchestrator.guards import Guards, idempotent
from mangaassist.orchestrator.schema import ErrorCode, QueryFrame, RequestError
from mangaassist.orchestrator.stages.base import Downstreams, Request, rejected, rpc_error
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2

# A refinement's query (the request's words, then the refinement's) stays well inside
# retrieval's query bound.
TOPIC_QUERY_CHARS = 1_000
# How much closer (query-to-series cosine) a series not offered must be to a description of
# "the one …" than the closest of those offered to be taken as the one meant. The cosines of
# e5 sit close together (0.78–0.85 here): on seven hand-checked descriptions the meant series
# outside the list led by 0.038 and 0.006, series wrongly outside by 0.014 and 0.017.
DESCRIBED_MARGIN = 0.03
logger = logging.getLogger(__name__)
# What the customer's product cards show; the prompt gets the subset in PROMPT_FIELDS.
CARD_FIELDS = (
    "asin",
    "series_id",
    "title",
    "authors",
    "genres",
    "language",
    "volumes",
    "price_jpy",
    "in_stock",
    "stock_count",
    "status",
    "start_year",
    "synopsis_short",
)
PROMPT_FIELDS = (
    "asin",
    "title",
    "authors",
    "genres",
    "price_jpy",
    "synopsis_short",
    "in_stock",
    "volumes",
    "volume",
    "language",
    "status",
)


class LastGood:
    """Last successful search results per query key: the retrieval fallback (seed: "cached results").

    Bounded LRU with a TTL, so a long outage does not serve arbitrarily old stock data.
    """

    def __init__(self, max_keys: int = 2_000, ttl_s: float = 600.0) -> None:
        self._data: OrderedDict[str, tuple[float, list[common_pb2.Product]]] = OrderedDict()
        self._max = max_keys
        self._ttl = ttl_s

    @staticmethod
    def key(text: str, filters: common_pb2.SearchFilters) -> str:
        """Normalised text + the effective filters (client's and inferred)."""
        folded = " ".join(unicodedata.normalize("NFKC", text).lower().split())
        return f"{folded}|{filters.SerializeToString(deterministic=True).hex()}"

    def put(self, key: str, products: list[common_pb2.Product]) -> None:
        self._data.pop(key, None)
        self._data[key] = (time.monotonic(), products)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def get(self, key: str) -> list[common_pb2.Product] | None:
        entry = self._data.get(key)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return None
        return entry[1]


def to_search_filters(frame: QueryFrame) -> common_pb2.SearchFilters:
    f = frame.filters
    out = common_pb2.SearchFilters()
    if f is None:
        return out
    if f.genre is not None:
        out.genres.append(f.genre)
    copy_present(f, out, ("language", "in_stock", "min_price_jpy", "max_price_jpy"))
    return out


def with_inferred_filters(
    client: common_pb2.SearchFilters, entities: intent_pb2.Entities
) -> tuple[common_pb2.SearchFilters, dict[str, Any]]:
    """Fill the filters the client left unset from the entities found in the message.

    The client's own filters always win, field by field; excluded genres (「ホラー以外」)
    are never turned into filters. Returns the merged filters and what was inferred,
    which the ``done`` frame reports as ``inferred_filters``.
    """
    merged = common_pb2.SearchFilters()
    merged.CopyFrom(client)
    inferred: dict[str, Any] = {}
    if not client.genres and entities.genres:
        merged.genres.extend(entities.genres)
        inferred["genres"] = list(entities.genres)
    for name in ("language", "in_stock", "min_price_jpy", "max_price_jpy"):
        if not client.HasField(name) and entities.HasField(name):
            setattr(merged, name, getattr(entities, name))
            inferred[name] = getattr(entities, name)
    if (
        merged.HasField("min_price_jpy")
        and merged.HasField("max_price_jpy")
        and merged.min_price_jpy > merged.max_price_jpy
    ):
        # An inferred bound that contradicts the client's own is dropped, not enforced.
        for name in ("min_price_jpy", "max_price_jpy"):
            if name in inferred:
                merged.ClearField(name)  # type: ignore[arg-type]
                del inferred[name]
    return merged, inferred


# How "the shortest", "the cheapest"… put the products in order (intent's ``resolved.order``);
# the search's rank breaks ties.
ORDER_KEYS: dict[str, Callable[[common_pb2.Product], int]] = {
    "fewest_volumes": lambda p: p.volumes,
    "most_volumes": lambda p: -p.volumes,
    "cheapest": lambda p: p.price_jpy,
    "priciest": lambda p: -p.price_jpy,
    "oldest": lambda p: p.start_year,
    "newest": lambda p: -p.start_year,
}


def in_order(products: list[common_pb2.Product], order: str) -> list[common_pb2.Product]:
    """The products the customer asked for first, first ("which one is the shortest?")."""
    key = ORDER_KEYS.get(order)
    return sorted(products, key=key) if key is not None else products


def one_edition_per_series(
    hits: list[common_pb2.Product], language: str, k: int, volume: int | None = None
) -> list[common_pb2.Product]:
    """Best hit per series (in rank order), preferring the edition that has the volume asked
    for, then the customer's language edition.

    The catalog holds a Japanese and an English edition of many series; showing both
    as separate picks wastes the customer's short list.
    """

    def rank(p: common_pb2.Product) -> tuple[bool, bool]:
        return (volume is not None and p.HasField("volume") and p.volume == volume, p.language == language)

    chosen: dict[str, common_pb2.Product] = {}
    for p in hits:
        kept = chosen.get(p.series_id)
        if kept is None or rank(p) > rank(kept):
            chosen[p.series_id] = p
    return list(chosen.values())[:k]


def product_dict(p: common_pb2.Product) -> dict[str, Any]:
    out: dict[str, Any] = MessageToDict(p, preserving_proto_field_name=True)
    return out


def prompt_product(p: common_pb2.Product) -> common_pb2.Product:
    """Only the fields the prompt needs (payload minimisation)."""
    out = common_pb2.Product()
    for name in PROMPT_FIELDS:
        if p.DESCRIPTOR.fields_by_name[name].is_repeated:
            getattr(out, name).extend(getattr(p, name))
        elif p.HasField(name):  # type: ignore[arg-type]
            setattr(out, name, getattr(p, name))
    return out


class CatalogStage:
    """Searches the catalog; remembers the last good results of each search."""

    def __init__(self, settings: OrchestratorSettings, downstreams: Downstreams, guards: Guards) -> None:
        self._s = settings
        self._d = downstreams
        self.guards = guards
        self._last_good = LastGood()

    async def search(
        self, req: Request, plan: SearchPlan, embedding: list[float] | None
    ) -> retrieval_pb2.SearchResponse | RequestError:
        """Vector search; a failure is returned, not raised: non-product intents ignore it.

        A series asked for in an edition the shop does not have ("Kingdom in English") shows
        the editions it does have, so the answer can say so, instead of nothing."""
        with req.seg.segment(spans.VECTOR_SEARCH):
            try:
                if plan.described:
                    reply = await self._described(req, plan, embedding)
                else:
                    reply = await self._search(req, plan, plan.filters, embedding)
                no_client_language = req.frame.filters is None or req.frame.filters.language is None
                if (
                    not reply.results
                    and plan.filters.series_ids
                    and plan.filters.HasField("language")
                    and no_client_language
                ):
                    other = common_pb2.SearchFilters()
                    other.CopyFrom(plan.filters)
                    other.ClearField("language")
                    reply = await self._search(req, plan, other, embedding)
            except grpc.aio.AioRpcError as exc:
                return rpc_error(exc, "retrieval")
            except (BreakerOpenError, BulkheadFullError) as exc:
                return rejected(exc, "retrieval")
            return reply

    async def _described(
        self, req: Request, plan: SearchPlan, embedding: list[float] | None
    ) -> retrieval_pb2.SearchResponse:
        """One of the series offered, described ("the one with the single dad cooking"): those
        offered, ranked by the words, unless a series outside them fits the words clearly
        better (by ``DESCRIBED_MARGIN``), or the words name a kind, a name or a story that none
        offered has and one outside does ("the volleyball one" after five other sports) — then
        that one first, the offered ones after it."""
        offered = set(plan.filters.series_ids)
        anywhere = common_pb2.SearchFilters()
        anywhere.CopyFrom(plan.filters)
        anywhere.ClearField("series_ids")
        among, everywhere = await asyncio.gather(
            self._search(req, plan, plan.filters, embedding), self._search(req, plan, anywhere, embedding)
        )
        best = max((r.score for r in among.results), default=float("-inf"))
        outside = [r for r in everywhere.results if r.product.series_id not in offered]
        logger.debug("described: offered best %.4f, outside best %.4f", best, outside[0].score if outside else -1.0)
        told_elsewhere = everywhere.lexical and not among.lexical
        if not outside or (outside[0].score < best + DESCRIBED_MARGIN and not told_elsewhere):
            return among
        meant = outside[0].product.series_id
        reply = retrieval_pb2.SearchResponse()
        reply.CopyFrom(among)
        del reply.results[:]
        reply.results.extend([r for r in outside if r.product.series_id == meant] + list(among.results))
        return reply

    async def _search(
        self, req: Request, plan: SearchPlan, filters: common_pb2.SearchFilters, embedding: list[float] | None
    ) -> retrieval_pb2.SearchResponse:
        reply: retrieval_pb2.SearchResponse = await idempotent(
            self.guards["retrieval"],
            req.budget,
            lambda: self._d.retrieval.Search(
                retrieval_pb2.SearchRequest(
                    # Twice k, so one edition per series still leaves k picks.
                    # A refinement is searched with the words of the request it refines
                    # (embedded by retrieval: the message's own vector is not that query's).
                    query=f"{plan.topic} {req.frame.text}"[:TOPIC_QUERY_CHARS] if plan.topic else req.frame.text,
                    k=min(2 * self._s.retrieval_k, 50),
                    filters=filters,
                    fields=CARD_FIELDS,
                    query_embedding=[] if plan.topic else (embedding or []),
                    like_series_ids=plan.like_series_ids,
                    volume=plan.volume,
                    latest_volume=plan.latest_volume,
                ),
                timeout=req.remaining(self._s.retrieval_timeout_s),
                metadata=outgoing_metadata(),
            ),
            lambda: req.squeezed(self._s.retrieval_timeout_s),
        )
        return reply

    def products(
        self,
        req: Request,
        found: retrieval_pb2.SearchResponse | RequestError,
        filters: common_pb2.SearchFilters,
        language: str,
        volume: int | None = None,
    ) -> list[common_pb2.Product]:
        """The products to show: this search's hits, or the last good ones for the same search
        when retrieval failed (the OpenSearch breaker's fallback, decision 0008); one edition per series."""
        key = LastGood.key(req.frame.text, filters)
        if isinstance(found, RequestError):
            cached = self._last_good.get(key) if found.code is not ErrorCode.INVALID_REQUEST else None
            if cached is None:
                raise found
            hits = cached
            req.fallbacks.append("retrieval:last_good")
        else:
            hits = [hit.product for hit in found.results]
            self._last_good.put(key, hits)
        return one_edition_per_series(hits, language, self._s.retrieval_k, volume)
