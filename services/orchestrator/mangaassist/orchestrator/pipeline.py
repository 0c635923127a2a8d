"""The per-query coordinator: validate → {exact cache, session} → embed + link → resolve the
turn → {semantic cache, search} → answer → done → write back. Each step is a stage module
(``stages/``) with typed inputs and outputs; this module only says in which order they run
and what runs side by side.

Critical path: the exact-cache GET runs while the session loads; on a miss the query
embedding (the costliest step before the model, ~10-20 ms; retrieval links the catalog
names in the message in the same call) starts at once, and the turn is resolved as soon as
the session (with its dialogue state) and the embedding are in. The search then runs with
the filters the resolved turn asks for. Work the customer does not wait for (the session
write, the guardrail's verdict, the cache write) runs after the ``done`` frame in the
``PostProcessor``. What the shared answer cache may hold and serve is decided in
``cache/privacy.py`` from what the prompt held.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Tracer
from pydantic import ValidationError

from mangaassist.common import spans
from mangaassist.common.language import detect_language
from mangaassist.common.metrics import mesh_metrics
from mangaassist.common.vocabulary import PRODUCT_INTENTS
from mangaassist.orchestrator.auth import Identity
from mangaassist.orchestrator.cache import CacheEntry, CacheHit, CacheKey, SemanticCache, is_cacheable, privacy
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dialogue import (
    SearchPlan,
    clarify_frame,
    is_blank,
    same_question,
    scope_digest,
    search_plan,
    with_shown,
)
from mangaassist.orchestrator.dynamo import OrderStore
from mangaassist.orchestrator.guards import Guards, RetryBudget
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.schema import ErrorCode, QueryFrame, RequestError, describe_validation_error, error_frame
from mangaassist.orchestrator.segments import Segments
from mangaassist.orchestrator.sessions import Session, SessionStore
from mangaassist.orchestrator.stages.base import Downstreams, Emit, Request
from mangaassist.orchestrator.stages.cache import CacheStage
from mangaassist.orchestrator.stages.catalog import (
    CatalogStage,
    in_order,
    product_dict,
    to_search_filters,
    with_inferred_filters,
)
from mangaassist.orchestrator.stages.context import ContextStage
from mangaassist.orchestrator.stages.respond import Responder
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2

__all__ = ["Downstreams", "Pipeline"]

ROUTE_MODEL = {intent_pb2.ROUTE_NONE: "none", intent_pb2.ROUTE_HAIKU: "haiku", intent_pb2.ROUTE_SONNET: "sonnet"}
# Resolved actions that search the catalog (a question back by name shows the candidates).
SEARCH_ACTIONS = frozenset({"search", "similar", "clarify_series", "choose"})


@dataclass
class Understood:
    """The turn as understood: the conversation, the resolution, what was searched and found."""

    session: Session
    classified: intent_pb2.ClassifyResponse
    plan: SearchPlan
    inferred: dict[str, Any]
    embedding: list[float] | None
    found: retrieval_pb2.SearchResponse | RequestError | None


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
        self._tracer = tracer
        self.post = post
        self.guards = guards
        self.context = ContextStage(settings, downstreams, sessions, guards, post, tracer)
        self.catalog = CatalogStage(settings, downstreams, guards)
        self.cache = CacheStage(settings, cache, tracer)
        self.respond = Responder(settings, downstreams, orders, guards)

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
                            raise RequestError(ErrorCode.INVALID_REQUEST, describe_validation_error(exc)) from None
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
            intent=done.get("intent") if done else None,
            model=done.get("model") if done else None,
            cache_hit=done.get("cache_hit") if done else False,
            outcome=outcome,
        )

    async def _answer(self, req: Request) -> dict[str, Any]:
        """The request's story: a shared answer if one may serve it, else understand the turn,
        answer it, and record it."""
        cache_key = CacheKey(
            text=req.frame.text,
            language=detect_language(req.frame.text),
            filters=req.frame.filters.model_dump(exclude_none=True) if req.frame.filters else {},
        )
        outcome = await self._understand(req, cache_key)
        if isinstance(outcome, tuple):
            hit, session = outcome
            done, state = await self.cache.serve(req, hit, session)
            await self.context.record(req, hit.entry.intent, hit.entry.answer, state=state)
            return done
        return await self._reply(req, cache_key, outcome)

    async def _understand(self, req: Request, cache_key: CacheKey) -> Understood | tuple[CacheHit, Session]:
        """Everything before the answer, side by side where it can be: a cache hit (with the
        session it may serve), or the understood turn with its search results."""
        orchestrator_ctx = trace.set_span_in_context(trace.get_current_span())
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
            return await self.context.classify(req, session, orchestrator_ctx, await asyncio.shield(embed_task))

        try:
            with req.seg.segment(spans.PARALLEL_RETRIEVAL):
                # The exact-cache check runs alongside the session load; a hit makes the rest
                # moot. The query embedding (~20 ms of retrieval CPU) starts only after an exact
                # miss; the classification waits for it (its fusion head reads it, and the
                # catalog names linked in the message come with it).
                exact_task = start(self.cache.lookup(req, cache_key, None))
                session_task = start(self.context.load_session(req))
                held = await exact_task
                if held is not None:  # served only if this conversation may take a shared answer
                    held = self.cache.shared(held, await session_task)
                    if held is not None and not session_task.result().turns:
                        return held, session_task.result()
                    # Mid-conversation the same words can mean something else ("it's still not
                    # here" after an order number was asked for): the entry waits for this
                    # turn's own reading and serves it only if that is the entry's question.
                embed_task = start(self.context.embed(req))
                classify_task = start(classify_after(session_task, embed_task))
                session, classified = await session_task, await classify_task
                if held is not None and same_question(held.entry.intent, classified):
                    return held, session
                client_filters = to_search_filters(req.frame)
                resolved = classified.resolved
                product = (
                    classified.intent in PRODUCT_INTENTS
                    and not classified.abstained
                    and resolved.action in SEARCH_ACTIONS
                )
                plan = search_plan(client_filters, resolved)
                inferred = with_inferred_filters(client_filters, classified.entities)[1] if product else {}
                embedding = await embed_task
                semantic = (
                    embedding is not None
                    and not classified.abstained
                    and is_cacheable(classified.intent, flagged=False)
                    and privacy.answer_is_shareable(classified.intent, session.turns, self._s.history_turns)
                )
                semantic_key = replace(
                    cache_key,
                    intent=classified.intent,
                    documents=privacy.current_documents(classified.intent, classified.language),
                    scope=scope_digest(plan.applied, classified.resolved.order),
                )
                semantic_task = start(self.cache.lookup(req, semantic_key, embedding)) if semantic else None
                search_task = start(self.catalog.search(req, plan, embedding)) if product else None
                hit = self.cache.shared(await semantic_task, session) if semantic_task is not None else None
                if hit is not None:
                    return hit, session
                found = await search_task if search_task is not None else None
        finally:
            for task in tasks:
                if not task.done() and task is not session_task:
                    task.cancel()
        return Understood(session, classified, plan, inferred, embedding, found)

    async def _reply(self, req: Request, cache_key: CacheKey, turn: Understood) -> dict[str, Any]:
        """Answer the understood turn, record it, and prepare the cache write."""
        classified, session, plan = turn.classified, turn.session, turn.plan
        intent = classified.intent
        model = ROUTE_MODEL.get(classified.routing.route, "haiku")
        language = classified.language or "en"
        span = trace.get_current_span()
        span.set_attribute("intent", intent)
        span.set_attribute("model", model)
        span.set_attribute("cache_hit", False)
        products: list[common_pb2.Product] = []
        if turn.found is not None:
            # "frieren latest vol?" with no edition asked for: the series' latest volume is the
            # Japanese edition's (the English one trails it), whatever language the question is in.
            edition = "ja" if plan.latest_volume and not plan.filters.HasField("language") else language
            products = self.catalog.products(req, turn.found, plan.filters, edition, plan.volume)
            products = in_order(products, classified.resolved.order)

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
            "inferred_filters": turn.inferred,
        }
        if classified.resolved.action == "choose":
            # The customer described one of the series we offered: the best match is the focus,
            # with the edition and volume they asked for.
            asked = plan.applied.pop("focus", {})
            if products:
                plan.applied["focus"] = {"series_id": products[0].series_id, **asked}
        if plan.applied:
            done["state"] = plan.applied
        clarify = clarify_frame(classified)
        if clarify is not None:
            done["clarify"] = clarify
        if classified.resolved.not_carried:
            done["not_carried"] = True
        context: privacy.PromptContext | None = None  # None: no prompt (a deterministic answer)
        if model == "none":
            answer = await self.respond.deterministic(req, classified, language, products)
            done["backend"] = "deterministic"
            await req.send_token(answer)
        else:
            answer, context = await self.respond.generate(req, session, classified, products, model, done)
        if req.fallbacks:
            done["fallbacks"] = req.fallbacks
        cost = float(done["usage"].get("cost_usd", 0.0))
        # What the whole conversation has cost so far, this answer included.
        done["usage"]["conversation_cost_usd"] = round(session.cost_usd + cost, 8)
        focus = classified.resolved.state.focus.series_id
        shown_volume = next((p.volume for p in products if p.series_id == focus and p.HasField("volume")), None)
        state = with_shown(classified.resolved, [p.series_id for p in products], shown_volume=shown_volume)
        await self.context.record(req, intent, answer, cost, state)
        # Only a complete, model-written answer without any fallback is worth reusing, and
        # only one whose prompt held nothing customer-specific may be shared.
        if context is not None and context.shareable and not req.fallbacks and is_cacheable(intent, flagged=False):
            entry = CacheEntry(
                answer=answer,
                intent=intent,
                model=str(done["model"]),
                products=done["products"],
                created_at=req.started_wall,
                documents=context.documents,
                # What the question resolved to, for the session it will serve, only when that
                # came from the question alone: a conversation's focus and request in force
                # (kept through a shop question) are its own, never implanted in another's.
                dialogue=base64.b64encode(state).decode() if is_blank(session.state) else "",
                not_carried=bool(done.get("not_carried")),
            )
            write_key = replace(
                cache_key,
                intent=intent,
                documents=context.documents,
                scope=scope_digest(plan.applied, classified.resolved.order),
            )
            done["_cache_write"] = self.cache.writer(write_key, turn.embedding, entry)
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
