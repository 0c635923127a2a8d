"""In-process semantic cache: the embedded default when no Redis/Valkey is configured.

Same semantics as the Redis implementation: exact tier keyed by normalised text,
language and filters; semantic tier = exact cosine search over the cached embeddings of
the same language, filters, shop-document version and intent (one matrix per such
partition, so a lookup multiplies only the rows that may match), then the guards. Bounded (LRU over
``max_entries``) with a TTL per entry. Single event loop, no awaits inside an operation,
so each operation is atomic.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from mangaassist.orchestrator.cache import base
from mangaassist.orchestrator.cache.checks import CheckSignature, get_check
from mangaassist.orchestrator.cache.keys import entry_id, filter_signature, key_text, partition_signature
from mangaassist.orchestrator.cache.stats import CacheStats

PartitionKey = tuple[str, str, str]  # (language, partition signature, intent)


@dataclass
class _Record:
    entry: base.CacheEntry
    sig: CheckSignature
    expires_at: float
    partition: PartitionKey | None  # None: stored without an embedding (exact tier only)


class _Partition:
    """Rows of unit vectors with swap-remove, grown by doubling."""

    def __init__(self, dim: int) -> None:
        self.matrix = np.zeros((8, dim), dtype=np.float32)
        self.ids: list[str] = []
        self.row: dict[str, int] = {}

    def add(self, eid: str, vec: base.Vector) -> None:
        if eid in self.row:
            self.matrix[self.row[eid]] = vec
            return
        if len(self.ids) == self.matrix.shape[0]:
            self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
        self.row[eid] = len(self.ids)
        self.matrix[len(self.ids)] = vec
        self.ids.append(eid)

    def remove(self, eid: str) -> None:
        i = self.row.pop(eid, None)
        if i is None:
            return
        last = len(self.ids) - 1
        if i != last:
            moved = self.ids[last]
            self.matrix[i] = self.matrix[last]
            self.ids[i] = moved
            self.row[moved] = i
        self.ids.pop()

    def nearest(self, vec: base.Vector, k: int) -> list[tuple[str, float]]:
        n = len(self.ids)
        if n == 0:
            return []
        sims = self.matrix[:n] @ vec
        if n > k:
            top = np.argpartition(-sims, k - 1)[:k]
            top = top[np.argsort(-sims[top])]
        else:
            top = np.argsort(-sims)
        return [(self.ids[i], float(sims[i])) for i in top]


class InMemorySemanticCache:
    """Bounded, TTL'd, two-tier cache in this process (not shared between tasks)."""

    def __init__(self, config: base.CacheConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or base.CacheConfig()
        self._check = get_check(self.config.check)
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()  # LRU order, oldest first
        self._partitions: dict[PartitionKey, _Partition] = {}
        self._by_asin: dict[str, set[str]] = {}
        self._invalidated: dict[str, float] = {}  # asin → wall time of the last change
        self._all_invalidated = float("-inf")  # wall time of the last change to every product
        self._stats = CacheStats()

    def stats(self) -> dict[str, int]:
        return self._stats.snapshot()

    def __len__(self) -> int:
        return len(self._records)

    def _live(self, eid: str, now: float) -> _Record | None:
        rec = self._records.get(eid)
        if rec is None:
            return None
        if rec.expires_at <= now:
            self._drop(eid)
            return None
        self._records.move_to_end(eid)
        return rec

    def _drop(self, eid: str) -> None:
        rec = self._records.pop(eid, None)
        if rec is None:
            return
        if rec.partition is not None:
            part = self._partitions.get(rec.partition)
            if part is not None:
                part.remove(eid)
                if not part.ids:
                    del self._partitions[rec.partition]
        for asin in rec.entry.asins:
            ids = self._by_asin.get(asin)
            if ids is not None:
                ids.discard(eid)
                if not ids:
                    del self._by_asin[asin]

    async def lookup_exact(self, key: base.CacheKey) -> base.CacheHit | None:
        if not base.key_is_cacheable(key):
            self._stats.inc("uncacheable")
            return None
        eid = entry_id(key_text(key.text), key.language, filter_signature(key.filters))
        rec = self._live(eid, self._clock())
        if rec is None:
            self._stats.inc("exact_miss")
            return None
        self._stats.inc("exact_hit")
        return base.CacheHit(rec.entry, "exact", 1.0, eid)

    async def lookup_semantic(self, key: base.CacheKey, embedding: base.Vector) -> base.CacheHit | None:
        vec = base.check_embedding(embedding, self.config.dim)
        if not base.key_is_cacheable(key):
            self._stats.inc("uncacheable")
            return None
        part = self._partitions.get(
            (key.language, partition_signature(key.filters, key.documents, key.scope), key.intent)
        )
        if part is None:
            self._stats.inc("semantic_miss")
            return None
        now = self._clock()
        query_sig = self._check.signature(key.text)
        rejected = False
        for eid, sim in part.nearest(vec, self.config.k):
            if sim < self.config.threshold:
                break
            rec = self._live(eid, now)
            if rec is None:
                continue
            if rec.sig.agrees(query_sig):
                self._stats.inc("semantic_hit")
                return base.CacheHit(rec.entry, "semantic", sim, eid)
            rejected = True
        self._stats.inc("guard_reject" if rejected else "semantic_miss")
        return None

    async def store(self, key: base.CacheKey, embedding: base.Vector | None, entry: base.CacheEntry) -> bool:
        vec = None if embedding is None else base.check_embedding(embedding, self.config.dim)
        now = self._clock()
        if not (base.is_cacheable(entry.intent, False) and base.key_is_cacheable(key) and entry.answer):
            self._stats.inc("store_skipped")
            return False
        if entry.created_at + self.config.ttl_s <= now or any(
            max(self._invalidated.get(a, float("-inf")), self._all_invalidated) >= entry.created_at for a in entry.asins
        ):
            # Its facts changed (or expired) while the answer was being written.
            self._stats.inc("store_stale")
            return False
        eid = entry_id(key_text(key.text), key.language, filter_signature(key.filters))
        self._drop(eid)
        partition = (
            (key.language, partition_signature(key.filters, entry.documents, key.scope), key.intent)
            if vec is not None
            else None
        )
        self._records[eid] = _Record(entry, self._check.signature(key.text), now + self.config.ttl_s, partition)
        if partition is not None and vec is not None:
            self._partitions.setdefault(partition, _Partition(self.config.dim)).add(eid, vec)
        for asin in entry.asins:
            self._by_asin.setdefault(asin, set()).add(eid)
        while len(self._records) > self.config.max_entries:
            self._drop(next(iter(self._records)))
            self._stats.inc("evicted")
        self._stats.inc("stored")
        return True

    async def invalidate_products(self, asins: Iterable[str]) -> int:
        now = self._clock()
        horizon = now - self.config.invalidation_memory_s
        for asin, at in list(self._invalidated.items()):
            if at < horizon:
                del self._invalidated[asin]
        wanted = {str(a) for a in asins}
        for asin in wanted:
            self._invalidated[asin] = now
        return self._drop_all({eid for asin in wanted for eid in self._by_asin.get(asin, ())})

    async def invalidate_all_products(self) -> int:
        self._all_invalidated = self._clock()
        return self._drop_all({e for ids in self._by_asin.values() for e in ids})

    def _drop_all(self, eids: set[str]) -> int:
        """Drop the entries still held among ``eids``; how many were dropped."""
        held = [eid for eid in eids if eid in self._records]
        for eid in held:
            self._drop(eid)
        self._stats.inc("invalidated", len(held))
        return len(held)

    async def close(self) -> None:
        self._records.clear()
        self._partitions.clear()
        self._by_asin.clear()
