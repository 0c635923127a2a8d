"""The per-query pipeline: validate → {exact cache, session} → embed → classify →
{semantic cache, search} → stream → done.

Critical path: the exact-cache GET runs while the session loads; on a miss the query
embedding (the costliest step before the model, ~10-20 ms) starts at once, and the
message is classified as soon as both the session and the embedding are in: the intent
service's fusion head reads that same embedding (no second embedding), which makes the
classification markedly more accurate for one ~1 ms hop after the embedding. The search then runs with
that embedding *and* the filters the intent service extracted from the message
(「2000円以下」, "in English", a genre) when the client sent none — so it neither waits
for the embedding nor searches before those filters are known. Work the customer does
not wait for (the session update) runs after the ``done`` frame in the
``PostProcessor``, which retries it and flushes it at shutdown, so nothing is lost.
The answer cache is shared by every customer: what it may hold and serve is decided in
``cache/privacy.py`` from what the prompt held (an exact hit waits for the session for that).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
import numpy as np
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.trace import Tracer
from pydantic import ValidationError

from mangaassist.common import spans
from mangaassist.common.language import detect_language
from mangaassist.common.metrics import mesh_metrics
from mangaassist.common.resilience import BreakerOpenError, BulkheadFullError
from mangaassist.common.telemetry import outgoing_metadata
from mangaassist.common.vocabulary import PRODUCT_INTENTS
from mangaassist.orchestrator.auth import Identity
from mangaassist.orchestrator.cache import CacheEntry, CacheHit, CacheKey, SemanticCache, is_cacheable, privacy
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dialogue import SearchPlan, decode_state, search_plan, with_shown
from mangaassist.orchestrator.dynamo import OrderStore
from mangaassist.orchestrator.guards import Guards, RetryBudget, idempotent
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.replies import clarify_series_reply, documents_for, fixed_reply, order_reply
from mangaassist.orchestrator.schema import (
    ErrorCode,
    QueryFrame,
    RequestError,
    describe_validation_error,
    error_frame,
)
from mangaassist.orchestrator.segments import Segments
from mangaassist.orchestrator.sessions import Session, SessionStore
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

logger = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], Awaitable[None]]

SONNET_BUDGET_SHARE = 0.6
# Failures before the first token after which Sonnet's request is retried on Haiku.
FALLBACK_CODES = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL})
ROUTE_MODEL = {intent_pb2.ROUTE_NONE: "none", intent_pb2.ROUTE_HAIKU: "haiku", intent_pb2.ROUTE_SONNET: "sonnet"}
# What the customer's product cards show; the prompt gets the subset in PROMPT_FIELDS.
CARD_FIELDS = ("asin", "series_id", "title", "authors", "genres", "language", "volumes", "price_jpy",
               "in_stock", "stock_count", "status", "synopsis_short")
PROMPT_FIELDS = ("asin", "title", "authors", "genres", "price_jpy", "synopsis_short", "in_stock", "volumes")
SYSTEM_PROMPT = (
    "You are MangaAssist, the shopping assistant of a Japanese manga store. Answer in the "
    "customer's language, only from the products and store documents provided; never invent "
    "titles, prices or stock. Keep answers short."
)

_RPC_ERRORS: dict[grpc.StatusCode, tuple[ErrorCode, str]] = {
    grpc.StatusCode.UNAVAILABLE: (ErrorCode.UNAVAILABLE, "the {what} service is unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (ErrorCode.TIMEOUT, "the {what} service did not answer in time"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (ErrorCode.RATE_LIMITED, "the {what} service is overloaded"),
    grpc.StatusCode.CANCELLED: (ErrorCode.UNAVAILABLE, "the {what} call was cancelled"),
}


# Resolved actions that search the catalog (a question back by name shows the candidates).
SEARCH_ACTIONS = frozenset({"search", "similar", "clarify_series", "choose"})


def clarify_frame(classified: intent_pb2.ClassifyResponse) -> dict[str, Any] | None:
    """The done frame's ``clarify``: what we asked the customer back, if anything."""
    action = classified.resolved.action
    if action == "clarify_series":
        return {"kind": "series", "candidates": list(classified.resolved.candidates)}
    if action == "ask_order_id":
        return {"kind": "order_id"}
    if classified.abstained:
        return {"kind": "generic"}
    return None


def rpc_error(exc: grpc.aio.AioRpcError, what: str) -> RequestError:
    """Map a downstream gRPC status to the contract's error code (one place)."""
    code = exc.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return RequestError(ErrorCode.INVALID_REQUEST, exc.details() or "invalid request")
    mapped, message = _RPC_ERRORS.get(code, (ErrorCode.INTERNAL, "the {what} service failed"))
    return RequestError(mapped, message.format(what=what))


def rejected(exc: BreakerOpenError | BulkheadFullError, what: str) -> RequestError:
    """A call our own guard refused: fail fast, tell the client to retry shortly."""
    if isinstance(exc, BreakerOpenError):
        return RequestError(ErrorCode.UNAVAILABLE, f"the {what} service is temporarily unavailable")
    return RequestError(ErrorCode.UNAVAILABLE, f"the {what} service is busy; retry shortly")


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


@dataclass(frozen=True)
class Downstreams:
    intent: intent_pb2_grpc.IntentServiceAsyncStub
    retrieval: retrieval_pb2_grpc.RetrievalServiceAsyncStub
    inference: inference_pb2_grpc.InferenceServiceAsyncStub


def to_search_filters(frame: QueryFrame) -> common_pb2.SearchFilters:
    f = frame.filters
    out = common_pb2.SearchFilters()
    if f is None:
        return out
    if f.genre is not None:
        out.genres.append(f.genre)
    if f.language is not None:
        out.language = f.language
    if f.in_stock is not None:
        out.in_stock = f.in_stock
    if f.min_price_jpy is not None:
        out.min_price_jpy = f.min_price_jpy
    if f.max_price_jpy is not None:
        out.max_price_jpy = f.max_price_jpy
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
    if merged.HasField("min_price_jpy") and merged.HasField("max_price_jpy") and merged.min_price_jpy > merged.max_price_jpy:
        # An inferred bound that contradicts the client's own is dropped, not enforced.
        for name in ("min_price_jpy", "max_price_jpy"):
            if name in inferred:
                merged.ClearField(name)  # type: ignore[arg-type]
                del inferred[name]
    return merged, inferred


def one_edition_per_series(
    hits: list[common_pb2.Product], language: str, k: int
) -> list[common_pb2.Product]:
    """Best hit per series (in rank order), preferring the customer's language edition.

    The catalog holds a Japanese and an English edition of many series; showing both
    as separate picks wastes the customer's short list.
    """
    chosen: dict[str, common_pb2.Product] = {}
    for p in hits:
        kept = chosen.get(p.series_id)
        if kept is None or (kept.language != language and p.language == language):
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


@dataclass
class Request:
    """Per-request state shared by the pipeline's steps."""

    seg: Segments
    frame: QueryFrame
    request_id: str
    session_id: str
    identity: Identity
    send_token: Callable[[str], Awaitable[None]]
    first_token_deadline: float  # loop time by which the customer must see the first token
    stream_deadline: float  # loop time by which the whole answer must be complete
    budget: RetryBudget
    fallbacks: list[str] = field(default_factory=list)
    streaming: bool = False
    started_wall: float = field(default_factory=time.time)  # when the answer's facts were read
    embedding_model: str = ""  # EmbedResponse.model of the query embedding, once computed
    mentions: list[common_pb2.Mention] = field(default_factory=list)  # catalog names linked in the text

    def remaining(self, cap: float) -> float:
        """Seconds for the next call: its own cap or what is left of the request's budget.

        Until the first token is out, every call shares the first-token budget (2 s by
        default); after that, the stream's own deadline applies.
        """
        deadline = self.stream_deadline if self.streaming else self.first_token_deadline
        return max(0.001, min(cap, deadline - asyncio.get_running_loop().time()))

    def squeezed(self, cap: float) -> bool:
        """Whether the request's budget, not the call's own ``cap``, leaves the next call
        under half that cap: its timing out then is the request's lateness, not the
        downstream's failure, and is kept out of the downstream's breaker."""
        return self.remaining(cap) < cap / 2

    def stream_remaining(self) -> float:
        return max(0.001, self.stream_deadline - asyncio.get_running_loop().time())


class Pipeline:
    """Answers one query frame; shared by every connection of the process."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        downstreams: Downstreams,
        sessions: SessionStore,
        orders: OrderStore | None,
        tracer: Tracer,
        post: PostProcessor,
        guards: Guards,
        cache: SemanticCache | None = None,
    ) -> None:
        self._s = settings
        self._d = downstreams
        self._sessions = sessions
        self._orders = orders
        self._tracer = tracer
        self.post = post
        self.guards = guards
        self._cache = cache
        self._last_good = LastGood()
        # Session writes still in flight, by session: the next turn of a conversation reads
        # the session only after the previous turn's write (a quick follow-up must see the
        # state the previous answer left). A connection stays on one process, so this is
        # the whole story for one conversation.
        self._writes: dict[str, asyncio.Event] = {}

    async def handle(self, raw: dict[str, Any], received_at: float, emit: Emit, identity: Identity) -> None:
        """Answer one parsed frame: tokens then ``done``, or exactly one ``error`` frame."""
        request_id = raw.get("request_id") if isinstance(raw.get("request_id"), str) else None
        seg = Segments(self._tracer)
        tokens_sent = 0

        async def send_token(text: str) -> None:
            nonlocal tokens_sent
            started = time.perf_counter()
            await emit({"type": "token", "request_id": request_id, "text": text})
            seg.add_delivery(started)
            tokens_sent += 1

        outcome, done = "ok", None
        with seg.segment(spans.REQUEST) as root:
            seg.record(spans.API_GATEWAY, received_at)
            try:
                with seg.segment(spans.ORCHESTRATOR):
                    with seg.segment(spans.VALIDATION):
                        if identity.error:
                            raise RequestError(ErrorCode.UNAUTHORIZED, identity.error)
                        try:
                            frame = QueryFrame.model_validate(raw)
                        except ValidationError as exc:
                            raise RequestError(
                                ErrorCode.INVALID_REQUEST, describe_validation_error(exc)
                            ) from None
                        if len(frame.text) > self._s.max_text_chars:
                            raise RequestError(
                                ErrorCode.TOO_LARGE, f"text is longer than {self._s.max_text_chars} characters"
                            )
                    request_id = frame.request_id or f"r-{uuid.uuid4().hex[:16]}"
                    root.set_attribute("request_id", request_id)
                    now = asyncio.get_running_loop().time()
                    req = Request(
                        seg=seg,
                        frame=frame,
                        request_id=request_id,
                        session_id=frame.session_id or f"s-{uuid.uuid4().hex}",
                        identity=identity,
                        send_token=send_token,
                        first_token_deadline=now + self._s.first_token_budget_s,
                        stream_deadline=now + self._s.request_timeout_s,
                        budget=RetryBudget(self._s.retry_budget),
                    )
                    done = await asyncio.wait_for(self._answer(req), timeout=self._s.request_timeout_s)
                seg.record(spans.REQUEST, received_at)
                seg.close_delivery()
                done["timings_ms"] = seg.timings_ms
                followup = done.pop("_followup", None)
                cache_write = done.pop("_cache_write", None)
                await emit(done)
                if followup is not None or cache_write is not None:
                    await self.post.submit("after-answer", self._after_answer(followup, cache_write, emit))
            except RequestError as exc:
                code = ErrorCode.STREAM_INTERRUPTED if tokens_sent else exc.code
                root.set_attribute("error.code", code.value)
                outcome = code.value
                await emit(error_frame(request_id, code, exc.message))
            except TimeoutError:
                code = ErrorCode.STREAM_INTERRUPTED if tokens_sent else ErrorCode.TIMEOUT
                root.set_attribute("error.code", code.value)
                outcome = code.value
                await emit(error_frame(request_id, code, "the answer took too long"))
        # Metrics from the same measurement as timings_ms (bounded attributes, no text).
        metrics = mesh_metrics()
        metrics.segments(seg.timings_ms)
        metrics.request(
            intent=done.get("intent") if done else None, model=done.get("model") if done else None,
            cache_hit=done.get("cache_hit") if done else False, outcome=outcome,
        )

    async def _load_session(self, req: Request) -> Session:
        """The conversation so far; a minimal empty session if the store is unreachable."""
        if req.frame.session_id is None:
            # The server just assigned this id: the conversation starts here, nothing to read.
            return Session(req.session_id)
        with req.seg.segment(spans.SESSION_LOAD):
            pending = self._writes.get(req.session_id)
            if pending is not None:
                try:
                    await asyncio.wait_for(pending.wait(), req.remaining(self._s.session_timeout_s))
                except TimeoutError:
                    logger.warning("previous turn's session write still pending; reading without it")
            try:
                session = await self.guards["dynamodb"].run(
                    lambda: asyncio.wait_for(self._sessions.load(req.session_id), req.remaining(self._s.session_timeout_s)),
                    req.squeezed(self._s.session_timeout_s),
                )
            except Exception as exc:
                logger.warning("session load failed; continuing without history", extra={"error": type(exc).__name__})
                req.fallbacks.append("session")
                return Session(req.session_id)
        if not session.owned_by(req.identity.customer_id):
            raise RequestError(ErrorCode.UNAUTHORIZED, "this conversation belongs to another account")
        return session

    async def _classify(
        self, req: Request, session: Session, parent: Any, embedding: list[float] | None = None
    ) -> intent_pb2.ClassifyResponse:
        with req.seg.segment(spans.INTENT, parent=parent) as span:
            try:
                reply: intent_pb2.ClassifyResponse = await idempotent(self.guards["intent"], req.budget, lambda: self._d.intent.Classify(
                    intent_pb2.ClassifyRequest(
                        text=req.frame.text,
                        # No language hint: filters.language is the *edition* wanted, not the
                        # language the customer writes in.
                        context=intent_pb2.SessionContext(
                            previous_intents=session.intents[-self._s.history_turns :],
                            turn_count=len(session.intents),
                        ),
                        # The shared query embedding: the intent service's fusion head uses it.
                        query_embedding=embedding or [],
                        embedding_model=req.embedding_model if embedding else "",
                        state=decode_state(session.state),
                        mentions=req.mentions,
                    ),
                    timeout=req.remaining(self._s.intent_timeout_s),
                    metadata=outgoing_metadata(),
                ), lambda: req.squeezed(self._s.intent_timeout_s))
            except grpc.aio.AioRpcError as exc:
                raise rpc_error(exc, "intent") from None
            except (BreakerOpenError, BulkheadFullError) as exc:
                raise rejected(exc, "intent") from None
            span.set_attribute("intent", reply.intent)
        return reply

    async def _embed(self, req: Request) -> list[float] | None:
        """The query embedding, computed once per request (the semantic cache reuses it).

        ``None`` when retrieval cannot embed now: the search then embeds by itself, or fails.
        """
        with req.seg.segment(spans.QUERY_EMBEDDING):
            try:
                reply: retrieval_pb2.EmbedResponse = await idempotent(
                    self.guards["retrieval"], req.budget, lambda: self._d.retrieval.Embed(
                        retrieval_pb2.EmbedRequest(text=req.frame.text, link=True),
                        timeout=req.remaining(self._s.retrieval_timeout_s),
                        metadata=outgoing_metadata(),
                    ), lambda: req.squeezed(self._s.retrieval_timeout_s),
                )
            except (grpc.aio.AioRpcError, BreakerOpenError, BulkheadFullError):
                return None
        req.embedding_model = reply.model
        req.mentions = list(reply.mentions)
        return list(reply.embedding)

    async def _search(
        self, req: Request, plan: SearchPlan, embedding: list[float] | None
    ) -> retrieval_pb2.SearchResponse | RequestError:
        """Vector search; a failure is returned, not raised: non-product intents ignore it."""
        with req.seg.segment(spans.VECTOR_SEARCH):
            try:
                reply: retrieval_pb2.SearchResponse = await idempotent(self.guards["retrieval"], req.budget, lambda: self._d.retrieval.Search(
                    retrieval_pb2.SearchRequest(
                        # Twice k, so one edition per series still leaves k picks.
                        query=req.frame.text,
                        k=min(2 * self._s.retrieval_k, 50),
                        filters=plan.filters,
                        fields=CARD_FIELDS,
                        query_embedding=embedding or [],
                        like_series_ids=plan.like_series_ids,
                        volume=plan.volume,
                        latest_volume=plan.latest_volume,
                    ),
                    timeout=req.remaining(self._s.retrieval_timeout_s),
                    metadata=outgoing_metadata(),
                ), lambda: req.squeezed(self._s.retrieval_timeout_s))
            except grpc.aio.AioRpcError as exc:
                return rpc_error(exc, "retrieval")
            except (BreakerOpenError, BulkheadFullError) as exc:
                return rejected(exc, "retrieval")
            return reply

    async def _answer(self, req: Request) -> dict[str, Any]:
        orchestrator_ctx = trace.set_span_in_context(trace.get_current_span())
        cache_key = CacheKey(
            text=req.frame.text,
            language=detect_language(req.frame.text),
            filters=req.frame.filters.model_dump(exclude_none=True) if req.frame.filters else {},
        )
        tasks: list[asyncio.Task[Any]] = []

        def start(coro: Any) -> asyncio.Task[Any]:
            task = asyncio.create_task(coro)
            tasks.append(task)
            return task

        async def classify_after(
            session_task: asyncio.Task[Session], embed_task: asyncio.Task[list[float] | None]
        ) -> intent_pb2.ClassifyResponse:
            # Shielded: cancelling the classification must not cancel the session load (the
            # answer still needs it) or the embedding (the search and the cache need it).
            session = await asyncio.shield(session_task)
            return await self._classify(req, session, orchestrator_ctx, await asyncio.shield(embed_task))

        try:
            with req.seg.segment(spans.PARALLEL_RETRIEVAL):
                # The exact-cache check runs alongside the session load; a hit makes the
                # rest moot. The query embedding (~20 ms of retrieval CPU, the costliest
                # step) starts only after an exact miss: repeated questions then cost no
                # embedding at all, for ~1 ms (one GET) on the first-time path. The
                # classification waits for that embedding (its fusion head reads it).
                exact_task = start(self._cache_lookup(req, cache_key, None))
                session_task = start(self._load_session(req))
                hit = await exact_task
                if hit is not None:  # served only if this conversation may take a shared answer
                    hit = self._shared(hit, await session_task)
                if hit is None:
                    embed_task = start(self._embed(req))
                    classify_task = start(classify_after(session_task, embed_task))
                    session, classified = await session_task, await classify_task
                    client_filters = to_search_filters(req.frame)
                    inferred: dict[str, Any] = {}
                    resolved = classified.resolved
                    product = (classified.intent in PRODUCT_INTENTS and not classified.abstained
                               and resolved.action in SEARCH_ACTIONS)
                    plan = search_plan(client_filters, resolved)
                    filters = plan.filters
                    if product:
                        _, inferred = with_inferred_filters(client_filters, classified.entities)
                    embedding = await embed_task
                    semantic = (
                        embedding is not None and not classified.abstained
                        and is_cacheable(classified.intent, flagged=False)
                        and privacy.answer_is_shareable(classified.intent, session.turns, self._s.history_turns)
                    )
                    semantic_key = replace(
                        cache_key, intent=classified.intent,
                        documents=privacy.current_documents(classified.intent, classified.language),
                    )
                    semantic_task = start(self._cache_lookup(req, semantic_key, embedding)) if semantic else None
                    search_task = start(self._search(req, plan, embedding)) if product else None
                    hit = self._shared(await semantic_task, session) if semantic_task is not None else None
                    found = await search_task if hit is None and search_task is not None else None
        finally:
            for task in tasks:
                if not task.done() and task is not session_task:
                    task.cancel()
        if hit is not None:
            return await self._serve_cached(req, hit, await session_task)

        intent = classified.intent
        model = ROUTE_MODEL.get(classified.routing.route, "haiku")
        language = classified.language or "en"
        span = trace.get_current_span()
        span.set_attribute("intent", intent)
        span.set_attribute("model", model)
        span.set_attribute("cache_hit", False)
        products: list[common_pb2.Product] = []
        if found is not None:
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
            products = one_edition_per_series(hits, language, self._s.retrieval_k)

        done: dict[str, Any] = {
            "type": "done",
            "request_id": req.request_id,
            "session_id": req.session_id,
            "intent": intent,
            "model": model,
            "cache_hit": False,
            "products": [product_dict(p) for p in products],
            "usage": {"input_tokens": 0, "output_tokens": 0},
            "language": language,
            "route_reason": classified.routing.reason,
            "confidence": round(classified.confidence, 4),
            "inferred_filters": inferred,
        }
        if plan.applied:
            done["state"] = plan.applied
        clarify = clarify_frame(classified)
        if clarify is not None:
            done["clarify"] = clarify
        if resolved.not_carried:
            done["not_carried"] = True
        context: privacy.PromptContext | None = None  # None: no prompt (a deterministic answer)
        if model == "none":
            answer = await self._deterministic(req, classified, language, products)
            done["backend"] = "deterministic"
            await req.send_token(answer)
        else:
            answer, context = await self._generate(req, session, classified, products, model, done)
        if req.fallbacks:
            done["fallbacks"] = req.fallbacks
        cost = float(done["usage"].get("cost_usd", 0.0))
        # What the whole conversation has cost so far, this answer included.
        done["usage"]["conversation_cost_usd"] = round(session.cost_usd + cost, 8)
        state = with_shown(resolved, [p.series_id for p in products])
        await self._after(req, intent, answer, cost, state)
        # Only a complete, model-written answer without any fallback is worth reusing, and
        # only one whose prompt held nothing customer-specific may be shared.
        if context is not None and context.shareable and not req.fallbacks and is_cacheable(intent, flagged=False):
            entry = CacheEntry(
                answer=answer, intent=intent, model=str(done["model"]), products=done["products"],
                created_at=req.started_wall, documents=context.documents,
                dialogue=base64.b64encode(state).decode(),
            )
            write_key = replace(cache_key, intent=intent, documents=context.documents)
            done["_cache_write"] = self._cache_write(write_key, embedding, entry)
        return done

    @staticmethod
    def _after_answer(
        followup: Callable[[Emit], Awaitable[bool]] | None,
        cache_write: Callable[[], Awaitable[None]] | None,
        emit: Emit,
    ) -> Callable[[], Awaitable[None]]:
        """Off the critical path: wait for the output guardrail's verdict, then cache the
        answer only if it was not flagged (a flagged answer is never reused)."""
        verdict: list[bool] = []

        async def job() -> None:
            if not verdict:  # a retry of this job must not wait for the verdict twice
                verdict.append(await followup(emit) if followup is not None else False)
            if cache_write is not None and not verdict[0]:
                await cache_write()

        return job

    async def _cache_lookup(self, req: Request, key: CacheKey, embedding: list[float] | None) -> CacheHit | None:
        """One cache tier (exact when ``embedding`` is None); any cache failure is a miss."""
        if self._cache is None:
            return None
        with req.seg.segment(spans.CACHE_LOOKUP, {"cache.tier": "exact" if embedding is None else "semantic"}) as span:
            try:
                if embedding is None:
                    hit = await self._cache.lookup_exact(key)
                else:
                    hit = await self._cache.lookup_semantic(key, np.asarray(embedding, dtype=np.float32))
            except Exception as exc:
                logger.warning("cache lookup failed; treating as a miss", extra={"error": type(exc).__name__})
                return None
            if hit is not None:
                span.set_attribute("cache.entry_id", hit.entry_id)
                span.set_attribute("cache.similarity", hit.similarity)
            return hit

    def _shared(self, hit: CacheHit | None, session: Session) -> CacheHit | None:
        """``hit`` when this request may be served a shared entry (``privacy.may_serve``)."""
        if hit is None or privacy.may_serve(hit.entry, session.turns, self._s.history_turns):
            return hit
        logger.info("cached answer not served to this request",
                    extra={"cache_tier": hit.tier, "cache_entry_id": hit.entry_id})
        trace.get_current_span().set_attribute("cache.refused_entry_id", hit.entry_id)
        return None

    async def _serve_cached(self, req: Request, hit: CacheHit, session: Session) -> dict[str, Any]:
        """Stream a cached answer at once and finish the request."""
        span = trace.get_current_span()
        span.set_attribute("cache_hit", True)
        span.set_attribute("intent", hit.entry.intent)
        span.set_attribute("cache.tier", hit.tier)
        span.set_attribute("cache.similarity", hit.similarity)
        span.set_attribute("cache.entry_id", hit.entry_id)
        logger.info("answered from the cache", extra={
            "cache_tier": hit.tier, "cache_similarity": round(hit.similarity, 4), "cache_entry_id": hit.entry_id,
        })
        await req.send_token(hit.entry.answer)
        state = base64.b64decode(hit.entry.dialogue) if hit.entry.dialogue else None
        await self._after(req, hit.entry.intent, hit.entry.answer, state=state)
        done = {
            "type": "done",
            "request_id": req.request_id,
            "session_id": req.session_id,
            "intent": hit.entry.intent,
            "model": hit.entry.model,
            "cache_hit": True,
            "cache_tier": hit.tier,
            "cache": {"tier": hit.tier, "similarity": round(hit.similarity, 4)},
            "products": hit.entry.products,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                      "conversation_cost_usd": round(session.cost_usd, 8)},
            "language": detect_language(req.frame.text),
            "backend": "semantic-cache",
        }
        if state is not None:
            applied = search_plan(common_pb2.SearchFilters(), intent_pb2.ResolvedRequest(
                state=decode_state(state))).applied
            if applied:
                done["state"] = applied
        return done

    def _cache_write(
        self, key: CacheKey, embedding: list[float] | None, entry: CacheEntry
    ) -> Callable[[], Awaitable[None]] | None:
        """The cache write to run once the answer is known to be clean (see ``_after_answer``)."""
        cache = self._cache
        if cache is None:
            return None
        vector = np.asarray(embedding, dtype=np.float32) if embedding is not None else None

        async def write() -> None:
            with (
                self._tracer.start_as_current_span(spans.ASYNC_POSTPROCESSING),
                self._tracer.start_as_current_span(spans.CACHE_WRITE),
            ):
                await cache.store(key, vector, entry)

        return write

    async def _deterministic(
        self, req: Request, classified: intent_pb2.ClassifyResponse, language: str, products: list[common_pb2.Product]
    ) -> str:
        """Route ``none``: fixed replies, a question back by name, and order status straight
        from the orders table (the order id as the intent service extracted it)."""
        if classified.resolved.action == "clarify_series" and products:
            return clarify_series_reply([p.title for p in products], language)
        order_id = classified.entities.order_ids[0] if classified.entities.order_ids else None
        if classified.intent == "order_status" and order_id and not classified.abstained and self._orders:
            with req.seg.segment("dynamodb-order-lookup"):
                try:
                    orders = self._orders
                    order = await self.guards["dynamodb"].run(
                        lambda: asyncio.wait_for(
                            orders.get_for_customer(order_id, req.identity.customer_id),
                            req.remaining(self._s.session_timeout_s),
                        ),
                        req.squeezed(self._s.session_timeout_s),
                    )
                except TimeoutError:
                    raise RequestError(ErrorCode.TIMEOUT, "the order lookup did not answer in time") from None
                except Exception:
                    raise RequestError(ErrorCode.UNAVAILABLE, "order lookup is unavailable; try again shortly") from None
            if order is not None:
                return order_reply(order, language)
        return fixed_reply(classified.intent, language, order_id, classified.abstained)

    async def _generate(
        self,
        req: Request,
        session: Session,
        classified: intent_pb2.ClassifyResponse,
        products: list[common_pb2.Product],
        model: str,
        done: dict[str, Any],
    ) -> tuple[str, privacy.PromptContext]:
        """Stream the model's answer; returns it with what its prompt was built from."""
        seg = req.seg
        with seg.segment(spans.PROMPT_ASSEMBLY) as prompt_span:
            history = privacy.prompt_history(classified.intent, session.turns, self._s.history_turns)
            request = inference_pb2.GenerateRequest(
                model=model,
                prompt=inference_pb2.PromptParts(
                    system=SYSTEM_PROMPT,
                    history=[common_pb2.Turn(role=r, text=t) for r, t in history],
                    products=[prompt_product(p) for p in products],
                    question=req.frame.text,
                    documents=documents_for(classified.intent, classified.language),
                    language=classified.language or "en",
                    intent=classified.intent,
                ),
            )
            context = privacy.prompt_context(request.prompt)
            prompt_span.set_attribute("prompt.customer_specific", list(context.personal))
        pieces: list[str] = []
        with seg.segment(spans.BEDROCK_INVOKE, {"gen_ai.request.model": model}) as span:
            try:
                final, call = await self._stream(req, request, pieces)
            except RequestError as exc:
                # The seed's fallback: Sonnet failing before its first token → Haiku.
                if model != "sonnet" or pieces or exc.code not in FALLBACK_CODES:
                    raise
                req.fallbacks.append("model:sonnet->haiku")
                span.set_attribute("fallback", "sonnet->haiku")
                request.model = model = "haiku"
                final, call = await self._stream(req, request, pieces)
            span.set_attribute("gen_ai.usage.input_tokens", final.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", final.usage.output_tokens)
        seg.timings_ms[spans.MODEL_INFERENCE] = round(final.time_to_first_token_ms, 3)
        done["model"] = final.model or model
        done["backend"] = final.backend
        done["finish_reason"] = final.finish_reason
        done["usage"] = {
            "input_tokens": final.usage.input_tokens,
            "output_tokens": final.usage.output_tokens,
            "cost_usd": final.usage.cost_usd,
        }
        # Inference issue: a fallback inside the inference service is recorded; the output
        # guardrail's verdict on the already-streamed answer arrives after `done` and
        # becomes a `guardrail` frame when it flags the answer.
        done["fallback"] = (
            {"from": final.fallback_from, "to": final.model, "reason": final.fallback_reason}
            if final.fallback_from else None
        )
        if final.fallback_from:
            req.fallbacks.append(f"model:{final.fallback_from}->{final.model}")
        request_id = done["request_id"]

        async def guardrail_followup(emit: Emit) -> bool:
            """Relay the output guardrail's verdict; True when it flagged the answer."""
            flagged = False
            try:
                async for message in call:
                    if message.HasField("guardrail") and message.guardrail.flagged:
                        flagged = True
                        logger.warning("answer flagged after streaming",
                                       extra={"categories": list(message.guardrail.categories)})
                        await emit({"type": "guardrail", "request_id": request_id, "action": "flagged",
                                    "categories": list(message.guardrail.categories),
                                    "engine": message.guardrail.engine})
            except grpc.aio.AioRpcError:
                pass  # the verdict is advisory; the answer was already delivered
            except Exception as exc:  # e.g. the client went away before the verdict
                logger.info("guardrail frame not delivered", extra={"error": type(exc).__name__})
            finally:
                call.cancel()
            return flagged

        done["_followup"] = guardrail_followup
        return "".join(pieces), context

    async def _stream(
        self, req: Request, request: inference_pb2.GenerateRequest, pieces: list[str]
    ) -> tuple[inference_pb2.GenerationDone, Any]:
        """Relay one Generate stream to the client; returns its final message and the call,
        still open for the output guardrail's verdict that follows ``done``."""
        stream_start: float | None = None
        final: inference_pb2.GenerationDone | None = None
        # Sonnet may use only part of the first-token budget, leaving Haiku time to step in.
        share = SONNET_BUDGET_SHARE if request.model == "sonnet" else 1.0
        squeezed = req.squeezed(self._s.first_token_budget_s * share)
        try:
            async with self.guards[f"inference:{request.model}"].call(squeezed):
                call = self._d.inference.Generate(
                    request, timeout=req.stream_remaining(), metadata=outgoing_metadata()
                )
                try:
                    iterator = call.__aiter__()
                    while True:
                        wait = req.remaining(self._s.first_token_budget_s) * share if stream_start is None else None
                        try:
                            message = await asyncio.wait_for(anext(iterator), wait)
                        except StopAsyncIteration:
                            break
                        except TimeoutError:
                            raise RequestError(ErrorCode.TIMEOUT, "the model did not start answering in time") from None
                        if message.HasField("token"):
                            if stream_start is None:
                                stream_start = time.perf_counter()
                                req.streaming = True
                            pieces.append(message.token.text)
                            await req.send_token(message.token.text)
                        elif message.HasField("done"):
                            final = message.done
                            break  # the output guardrail's verdict follows off the critical path
                except grpc.aio.AioRpcError as exc:
                    call.cancel()
                    raise rpc_error(exc, "inference") from None
                except BaseException:
                    call.cancel()
                    raise
                if final is None:
                    raise RequestError(ErrorCode.STREAM_INTERRUPTED, "the answer stream ended early")
        except (BreakerOpenError, BulkheadFullError) as exc:
            raise rejected(exc, "inference") from None
        return final, call

    async def _after(
        self, req: Request, intent: str, answer: str, cost_usd: float = 0.0, state: bytes | None = None
    ) -> None:
        """Hand the session update (the turn and the dialogue state after it, one write) to
        the post-processor (retried, flushed at drain)."""
        session_id, customer_id, text = req.session_id, req.identity.customer_id, req.frame.text

        written = asyncio.Event()
        self._writes[session_id] = written

        async def update_session() -> None:
            try:
                with (
                    self._tracer.start_as_current_span(spans.ASYNC_POSTPROCESSING),
                    self._tracer.start_as_current_span(spans.SESSION_UPDATE),
                ):
                    await self._sessions.append(session_id, customer_id, intent, text, answer, cost_usd, state)
            finally:
                # A failed attempt also releases the next turn (it reads what is there); a retry
                # that lands later is still ordered by the session's version.
                written.set()
                if self._writes.get(session_id) is written:
                    del self._writes[session_id]

        await self.post.submit(spans.SESSION_UPDATE, update_session)

