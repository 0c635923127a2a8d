"""The semantic cache's interface: keys, entries, hits, the protocol and what may be cached.

Two tiers behind one protocol. The exact tier answers a repeat of the same normalised
message (same language, same filters) with one key lookup; the semantic tier finds the
nearest cached query embedding and accepts it only above a similarity threshold *and*
when the guards (negation, numbers, named entities; see ``lexicon_check``) agree — plain
embedders score "in stock" and "out of stock" as near-identical.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from mangaassist.orchestrator.cache.lexicon_check import is_self_contained

# Product answers and shop FAQs. Never order status, account or greetings/escalation:
# those are personal or cheap and deterministic.
CACHEABLE_INTENTS: frozenset[str] = frozenset(
    {"product_recommendation", "product_search", "product_question", "shipping_info", "payment", "return_refund"}
)

Vector = npt.NDArray[np.float32]


def is_cacheable(intent: str, flagged: bool) -> bool:
    """May an answer of ``intent`` be cached? Never one a guardrail ``flagged``."""
    return not flagged and intent in CACHEABLE_INTENTS


@dataclass(frozen=True)
class CacheKey:
    """What a request is cached under. Built by the orchestrator per request.

    ``text`` is the customer's raw message (the cache normalises it); ``filters`` are
    the request's effective filters (``None`` values count as absent), so answers for
    different filters never meet; ``intent`` is the classified intent ("" when not yet
    known — the exact tier does not need it); ``documents`` is the version of the shop
    documents this request's answer would be built from (``keys.documents_version``):
    the semantic tier matches only entries built from the same version. The exact tier
    runs before the intent (and so the documents) is known: its caller checks the hit's
    ``CacheEntry.documents`` instead (``privacy.may_serve``).
    """

    text: str
    language: str
    filters: Mapping[str, object] = field(default_factory=dict)
    intent: str = ""
    documents: str = ""
    scope: str = ""  # digest of what the turn resolved to (focus, constraints): semantic partition only


@dataclass(frozen=True)
class CacheEntry:
    """A cached answer, as the ``done`` frame would carry it.

    ``created_at`` is wall-clock time (``time.time()``) when the answer's facts were
    read (take it before retrieval): a price or stock change after it makes the entry
    stale, so ``store`` refuses it if those products were invalidated since.
    ``documents`` is the version of the shop documents its prompt held ("" for none):
    ``store`` files the entry under it.
    """

    answer: str
    intent: str
    model: str
    products: list[dict[str, Any]]
    created_at: float = field(default_factory=time.time)
    documents: str = ""
    # The dialogue state the answer's request resolved to (base64 DialogueState). Shared
    # entries come from first turns, so it holds only what the question itself said; a
    # hit hands it to the session so the next turn's follow-up still has its focus.
    dialogue: str = ""
    # The question named a title the shop does not carry: the answer is an honest no.
    not_carried: bool = False

    @property
    def asins(self) -> frozenset[str]:
        return frozenset(str(p["asin"]) for p in self.products if p.get("asin"))


@dataclass(frozen=True)
class CacheHit:
    entry: CacheEntry
    tier: Literal["exact", "semantic"]
    similarity: float  # cosine similarity of the query embeddings; 1.0 for the exact tier
    entry_id: str  # the matched entry's id (a hash, never its text): for logs and spans


class SemanticCache(Protocol):
    """Both implementations (Redis/Valkey vector search and in-process) offer this."""

    async def lookup_exact(self, key: CacheKey) -> CacheHit | None:
        """The entry stored under the same normalised text, language and filters."""
        ...

    async def lookup_semantic(self, key: CacheKey, embedding: Vector) -> CacheHit | None:
        """The nearest entry (same language, filters, intent and documents) above the threshold whose guards agree."""
        ...

    async def store(self, key: CacheKey, embedding: Vector | None, entry: CacheEntry) -> bool:
        """Cache ``entry``; False (and nothing stored) when it must not be cached."""
        ...

    async def invalidate_products(self, asins: Iterable[str]) -> int:
        """Drop every entry that mentions one of ``asins`` (a price or stock change); the count dropped."""
        ...

    async def invalidate_all_products(self) -> int:
        """Drop every entry that mentions any product (changes were missed); the count dropped."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters: hits per tier, misses, guard rejections, stores, skips, errors."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class CacheConfig:
    """Tuning shared by both implementations.

    ``threshold`` is the cosine similarity a semantic hit needs: a floor above which the
    check decides; its default is the operating point of the default check chosen on the
    calibration side of the hand-written evaluation (``bench/cache_eval``, decision 0003).
    """

    threshold: float = 0.92
    ttl_s: float = 3_600.0
    k: int = 4  # nearest neighbours examined; the first that passes the guards wins
    max_entries: int = 50_000  # in-process cache only (Redis is bounded by its maxmemory policy)
    # How long a price/stock invalidation is remembered, so an answer computed before the
    # change and written after it (fire-and-forget writes) is refused. Must exceed the
    # longest request plus the write delay.
    invalidation_memory_s: float = 600.0
    dim: int = 384
    # Which check must agree before a semantic hit is served (``checks``; chosen by
    # measurement on the hand-written evaluation, docs/decisions/).
    check: str = "lexicon+align"

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.ttl_s <= 0 or self.invalidation_memory_s <= 0:
            raise ValueError("ttl_s and invalidation_memory_s must be positive")
        if self.k < 1 or self.max_entries < 1 or self.dim < 1:
            raise ValueError("k, max_entries and dim must be positive")
        from mangaassist.orchestrator.cache.checks import check_names

        if self.check not in check_names():
            raise ValueError(f"unknown cache check {self.check!r} (known: {', '.join(check_names())})")


def key_is_cacheable(key: CacheKey) -> bool:
    """A message that refers to the conversation ("that one", 「それ」) has no answer of its own."""
    return is_self_contained(key.text)


def check_embedding(embedding: Vector, dim: int) -> Vector:
    """A float32 vector of ``dim`` finite values, or ValueError (bad input never reaches the store)."""
    vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vec.shape[0] != dim:
        raise ValueError(f"embedding has {vec.shape[0]} dimensions, the cache expects {dim}")
    if not np.all(np.isfinite(vec)):
        raise ValueError("embedding has non-finite values")
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:
        raise ValueError("embedding is all zeros")
    return (vec / norm).astype(np.float32)
