"""The answer-cache stage: lookups (exact, semantic), whether this request may take a shared
answer, serving a hit, and the write of a clean answer (``cache/privacy.py`` decides what
may be shared)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from opentelemetry import trace
from opentelemetry.trace import Tracer

from mangaassist.common import spans
from mangaassist.common.language import detect_language
from mangaassist.orchestrator.cache import CacheEntry, CacheHit, CacheKey, SemanticCache, privacy
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dialogue import decode_state, is_blank, search_plan
from mangaassist.orchestrator.sessions import Session
from mangaassist.orchestrator.stages.base import Request
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2

logger = logging.getLogger(__name__)


class CacheStage:
    """Looks up, serves and writes shared answers."""

    def __init__(self, settings: OrchestratorSettings, cache: SemanticCache | None, tracer: Tracer) -> None:
        self._s = settings
        self._cache = cache
        self._tracer = tracer

    async def lookup(self, req: Request, key: CacheKey, embedding: list[float] | None) -> CacheHit | None:
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

    def shared(self, hit: CacheHit | None, session: Session) -> CacheHit | None:
        """``hit`` when this request may be served a shared entry (``privacy.may_serve``)."""
        if hit is None or privacy.may_serve(hit.entry, session.turns, self._s.history_turns):
            return hit
        logger.info(
            "cached answer not served to this request", extra={"cache_tier": hit.tier, "cache_entry_id": hit.entry_id}
        )
        trace.get_current_span().set_attribute("cache.refused_entry_id", hit.entry_id)
        return None

    async def serve(self, req: Request, hit: CacheHit, session: Session) -> tuple[dict[str, Any], bytes | None]:
        """Stream a cached answer at once; the ``done`` frame and the dialogue state the
        entry's question resolved to (for the session write)."""
        span = trace.get_current_span()
        span.set_attribute("cache_hit", True)
        span.set_attribute("intent", hit.entry.intent)
        span.set_attribute("cache.tier", hit.tier)
        span.set_attribute("cache.similarity", hit.similarity)
        span.set_attribute("cache.entry_id", hit.entry_id)
        logger.info(
            "answered from the cache",
            extra={
                "cache_tier": hit.tier,
                "cache_similarity": round(hit.similarity, 4),
                "cache_entry_id": hit.entry_id,
            },
        )
        await req.send_token(hit.entry.answer)
        # What the entry's question resolved to becomes this session's state only where nothing
        # was in force yet; a conversation served a shop answer mid-way keeps its own.
        state = base64.b64decode(hit.entry.dialogue) if hit.entry.dialogue and is_blank(session.state) else None
        done: dict[str, Any] = {
            "type": "done",
            "request_id": req.request_id,
            "session_id": req.session_id,
            "intent": hit.entry.intent,
            "model": hit.entry.model,
            "cache_hit": True,
            "cache_tier": hit.tier,
            "cache": {"tier": hit.tier, "similarity": round(hit.similarity, 4)},
            "products": hit.entry.products,
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
                "conversation_cost_usd": round(session.cost_usd, 8),
            },
            "language": detect_language(req.frame.text),
            "backend": "semantic-cache",
        }
        if hit.entry.not_carried:
            done["not_carried"] = True
        if state is not None:
            applied = search_plan(
                common_pb2.SearchFilters(), intent_pb2.ResolvedRequest(state=decode_state(state))
            ).applied
            if applied:
                done["state"] = applied
        return done, state

    def writer(
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
