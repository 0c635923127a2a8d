"""Two-tier semantic cache for answers: exact repeat, then nearest embedding with guards.

``make_cache(url, config, breaker)`` gives the Redis/Valkey implementation when a URL is
configured and the in-process one otherwise; both follow ``SemanticCache``. The orchestrator
passes its own ``redis`` breaker, so the one that skips a dead cache is the one its status
shows and its ``breakers`` setting tunes.
"""

from __future__ import annotations

from mangaassist.common.resilience import CircuitBreaker
from mangaassist.orchestrator.cache.base import (
    CACHEABLE_INTENTS,
    CacheConfig,
    CacheEntry,
    CacheHit,
    CacheKey,
    SemanticCache,
    is_cacheable,
)
from mangaassist.orchestrator.cache.lexicon_check import Signature, guards_agree, is_self_contained, signature
from mangaassist.orchestrator.cache.memory import InMemorySemanticCache
from mangaassist.orchestrator.cache.redis_cache import CacheUnavailable, RedisSemanticCache

__all__ = [
    "CACHEABLE_INTENTS",
    "CacheConfig",
    "CacheEntry",
    "CacheHit",
    "CacheKey",
    "CacheUnavailable",
    "InMemorySemanticCache",
    "RedisSemanticCache",
    "SemanticCache",
    "Signature",
    "guards_agree",
    "is_cacheable",
    "is_self_contained",
    "make_cache",
    "signature",
]


def make_cache(
    redis_url: str | None, config: CacheConfig | None = None, breaker: CircuitBreaker | None = None
) -> SemanticCache:
    """Redis/Valkey when ``redis_url`` is set (``redis://`` or ``rediss://`` for TLS), else in-process.

    ``breaker`` guards the Redis calls (default: a new one with the Redis preset); the
    in-process cache has nothing to guard."""
    if redis_url:
        return RedisSemanticCache.from_url(redis_url, config, breaker=breaker)
    return InMemorySemanticCache(config)
