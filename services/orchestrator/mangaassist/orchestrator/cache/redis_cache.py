"""Semantic cache on Redis / ElastiCache Valkey vector search (``redis.asyncio``).

Stays inside the command subset valkey-search (ElastiCache Valkey ≥ 8.2) supports:
``FT.CREATE`` on HASH keys with TAG and VECTOR (HNSW, COSINE) fields, ``FT.SEARCH`` with a
TAG pre-filter and ``=>[KNN k @vec $vec AS dist]`` (DIALECT 2) — no TEXT fields, no
SORTBY, no aggregation. Keys (``prefix`` default ``mangaassist:cache:``):

* ``{p}e:{id}``   HASH — ``entry`` (JSON), ``sig`` (guard signature JSON), TAGs ``lang``,
  ``fsig`` (partition signature: filters and shop-document version), ``intent``; ``vec``
  (float32 bytes) when stored with an embedding. Expires after the TTL; the index forgets expired keys by itself.
* ``{p}asin:{asin}`` SET of entry ids that mention the product (for invalidation).
* ``{p}inv:{asin}`` the time of the product's last price/stock change, kept for
  ``invalidation_memory_s`` so a fire-and-forget write of an older answer is refused;
  ``{p}inv-all`` the same for a change to every product (a catalog reload).

The exact tier is one ``HGET`` (one round trip) on the id derived from normalised text,
language and filters. The semantic tier is one ``FT.SEARCH`` that returns the k nearest
entries of the same language, filters and intent with their guard signatures and
payloads, so a hit needs no second round trip. A hit names its entry by id (the hash in
its key), never by text.

Lookups and stores never raise for Redis trouble: they count the error and report a
miss / not-stored, and a circuit breaker (``mangaassist.common.resilience``, the
Redis preset of decision 0008: 3 failures in 10 s → skip the cache for 5 s, close after 2 successes; pass
the orchestrator's own to see it in its status) keeps a dead cache from adding its
timeout to every request. ``invalidate_products`` does raise (``CacheUnavailable``): a
lost invalidation would serve stale prices, so its caller must retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.trace import TracerProvider
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.commands.search.field import Field, TagField, VectorField
from redis.commands.search.index_definition import IndexDefinition, IndexType
from redis.commands.search.query import Query
from redis.exceptions import RedisError, ResponseError
from redis.typing import EncodableT, FieldT

from mangaassist.common.pools import SEED_POOLS, Pool, PoolStats
from mangaassist.common.resilience import PRESETS, CircuitBreaker
from mangaassist.orchestrator.cache.base import (
    CacheConfig,
    CacheEntry,
    CacheHit,
    CacheKey,
    Vector,
    check_embedding,
    is_cacheable,
    key_is_cacheable,
)
from mangaassist.orchestrator.cache.checks import decode, encode, get_check
from mangaassist.orchestrator.cache.keys import entry_id, filter_signature, key_text, partition_signature
from mangaassist.orchestrator.cache.stats import CacheStats

_T = TypeVar("_T")
# What a failed Redis call raises (a decode error of a stored value included).
_OP_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError, TimeoutError, ValueError)
log = logging.getLogger(__name__)

# The Redis pool row (docs/decisions/0008-budgets-pools-breakers.md): 50 connections, 1 s connect, 2 s read, keep-alive.
POOL_MAX_CONNECTIONS = SEED_POOLS["redis"].max_connections
CONNECT_TIMEOUT_S = SEED_POOLS["redis"].connect_timeout_s
READ_TIMEOUT_S = SEED_POOLS["redis"].read_timeout_s
_TAG_SPECIAL = re.compile(r"([^A-Za-z0-9])")


class MeasuredRedisPool(BlockingConnectionPool):
    """redis-py's blocking pool (waits for a free connection up to ``timeout``), measured.

    Reads the pool's own connection lists (redis-py 8.1: ``_available_connections`` /
    ``_in_use_connections``) for idle and active counts.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool_stats = PoolStats()
        self._seen: weakref.WeakSet[AbstractConnection] = weakref.WeakSet()

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        started = time.perf_counter()
        self.pool_stats.requests += 1
        try:
            connection: AbstractConnection = await super().get_connection(  # type: ignore[no-untyped-call]
                *args, **kwargs
            )
        except BaseException:
            self.pool_stats.errors += 1
            raise
        self.pool_stats.checkouts += 1
        self.pool_stats.checkout_s += time.perf_counter() - started
        if connection not in self._seen:
            self._seen.add(connection)
            self.pool_stats.opened += 1
        self.pool_stats.active = len(self._in_use_connections)
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        await super().release(connection)
        self.pool_stats.active = len(self._in_use_connections)

    def idle(self) -> int:
        return len(self._available_connections)


class CacheUnavailable(RuntimeError):
    """The cache server could not complete an operation that must not be dropped."""


def _tag(value: str) -> str:
    """A TAG value escaped for the query syntax (empty → ``_``)."""
    return _TAG_SPECIAL.sub(r"\\\1", value or "_")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_to_json(entry: CacheEntry) -> bytes:
    return orjson.dumps(
        {
            "answer": entry.answer,
            "intent": entry.intent,
            "model": entry.model,
            "products": entry.products,
            "created_at": entry.created_at,
            "documents": entry.documents,
            "dialogue": entry.dialogue,
            "not_carried": entry.not_carried,
        }
    )


def _entry_from_json(blob: bytes | str) -> CacheEntry:
    d = orjson.loads(blob)
    return CacheEntry(
        answer=d["answer"],
        intent=d["intent"],
        model=d["model"],
        products=list(d["products"]),
        created_at=float(d["created_at"]),
        documents=str(d["documents"]),
        dialogue=str(d.get("dialogue", "")),
        not_carried=bool(d.get("not_carried", False)),
    )


class RedisSemanticCache:
    """The shared cache for every orchestrator task (ElastiCache in AWS, Redis Stack locally)."""

    def __init__(
        self,
        client: aioredis.Redis,
        config: CacheConfig | None = None,
        prefix: str = "mangaassist:cache:",
        op_timeout_s: float = 0.25,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
        hnsw_ef_runtime: int = 64,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.config = config or CacheConfig()
        self._check = get_check(self.config.check)
        self._r = client
        self._p = prefix
        self._index = f"{prefix}idx"
        self._op_timeout = op_timeout_s
        self._hnsw = {"M": hnsw_m, "EF_CONSTRUCTION": hnsw_ef_construction, "EF_RUNTIME": hnsw_ef_runtime}
        self._breaker = breaker or CircuitBreaker("redis", PRESETS["redis"])
        self._stats = CacheStats()
        self._index_ready = False
        self._index_lock = asyncio.Lock()
        self._knn_policy = ""  # " HYBRID_POLICY BATCHES" once the server is known to accept it
        self._all_mark = f"{prefix}inv-all"  # time of the last change to every product

    @classmethod
    def from_url(cls, url: str, config: CacheConfig | None = None, **kwargs: Any) -> RedisSemanticCache:
        """A cache on one pooled, measured client (50 connections, 1 s connect / 2 s read timeouts)."""
        pool = MeasuredRedisPool.from_url(
            url,
            max_connections=POOL_MAX_CONNECTIONS,
            timeout=CONNECT_TIMEOUT_S,  # wait for a free pooled connection at most this long
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=READ_TIMEOUT_S,
            socket_keepalive=True,
            health_check_interval=30,
        )
        return cls(aioredis.Redis(connection_pool=pool), config, **kwargs)

    def trace(self, tracer_provider: TracerProvider) -> None:
        """A CLIENT span per command and pipeline of this client (``HGET``, ``redis.search``,
        a pipeline's commands), from opentelemetry-instrumentation-redis: ``db.system=redis``,
        the statement with every argument replaced by ``?`` and the server's address, so the
        trace shows the cache under ``cache-lookup`` / ``cache-write`` and X-Ray draws it as a
        node. Only this client is wrapped, not redis-py's classes."""
        RedisInstrumentor.instrument_client(self._r, tracer_provider=tracer_provider)

    def stats(self) -> dict[str, int]:
        return self._stats.snapshot()

    def as_pool(self, target: str) -> Pool:
        """This cache's connection pool for the process's pool manager (warm = index + one round trip)."""
        pool = self._r.connection_pool
        if not isinstance(pool, MeasuredRedisPool):
            raise TypeError("only a cache built by from_url() has a measured pool")

        async def warm() -> None:
            await self.ensure_index()
            if not await self.ping():
                raise CacheUnavailable("the cache server did not answer")

        return Pool("redis", pool.max_connections, pool.pool_stats, pool.idle, target=target, warm=warm)

    def _ekey(self, eid: str) -> str:
        return f"{self._p}e:{eid}"

    # --- index ---------------------------------------------------------------------

    async def ensure_index(self) -> None:
        """Create the vector index if it does not exist (idempotent; safe across tasks)."""
        async with self._index_lock:
            if self._index_ready:
                return
            ft = self._r.ft(self._index)
            try:
                info = await ft.info()  # type: ignore[no-untyped-call]
            except ResponseError:
                info = None
            if info is None:
                schema: list[Field] = [
                    TagField("lang"),
                    TagField("fsig"),
                    TagField("intent"),
                    VectorField(
                        "vec",
                        "HNSW",
                        {"TYPE": "FLOAT32", "DIM": self.config.dim, "DISTANCE_METRIC": "COSINE", **self._hnsw},
                    ),
                ]
                try:
                    await ft.create_index(
                        schema,
                        definition=IndexDefinition(  # type: ignore[no-untyped-call]
                            prefix=[f"{self._p}e:"], index_type=IndexType.HASH
                        ),
                    )
                except ResponseError as exc:
                    if "already exists" not in str(exc).lower():
                        raise
            else:
                dims = [a for a in info.get("attributes", []) if "vec" in [_text(x) for x in a]]
                flat = [_text(x) for x in dims[0]] if dims else []
                if "dim" in flat and int(flat[flat.index("dim") + 1]) != self.config.dim:
                    raise CacheUnavailable(f"index {self._index} has another dimension than {self.config.dim}")
            self._knn_policy = await self._probe_hybrid_policy(ft)
            self._index_ready = True

    async def _probe_hybrid_policy(self, ft: Any) -> str:
        """`` HYBRID_POLICY BATCHES`` when the server accepts it, else ``""``.

        Our lookups pre-filter on TAGs that most entries share (one language, no filters,
        one intent), and RediSearch's default plan for such a broad filter is an ad-hoc
        brute-force scan of every matching vector (≈ 4 ms at 10k entries here) instead of
        walking the HNSW graph in batches and filtering as it goes (≈ 0.5 ms). valkey-search
        (ElastiCache) does not know the clause — it chooses between pre-filtering and
        inline filtering by itself — so the clause is used only where a probe query on the
        index succeeds.
        """
        probe = (
            Query("(@lang:{probe})=>[KNN 1 @vec $vec HYBRID_POLICY BATCHES AS dist]")
            .return_fields("dist")
            .paging(0, 1)
            .dialect(2)
        )
        zero = bytes(4 * self.config.dim)
        try:
            await ft.search(probe, query_params={"vec": zero})
        except ResponseError as exc:
            log.info(
                "cache server does not take HYBRID_POLICY (%s); using its default KNN plan",
                str(exc).split("\n", 1)[0][:80],
            )
            return ""
        return " HYBRID_POLICY BATCHES"

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self._op_timeout):
                return bool(await self._r.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    # --- guarded execution ------------------------------------------------------------

    def _failed(self, what: str, exc: BaseException) -> None:
        self._stats.inc("errors")
        self._breaker.record(False)
        if isinstance(exc, ResponseError) and "no such index" in str(exc).lower():
            self._index_ready = False
        log.warning("cache %s failed: %s", what, type(exc).__name__)

    def _admit(self, key: CacheKey) -> bool:
        """Whether a lookup of ``key`` goes to Redis at all (cacheable, breaker closed)."""
        if not key_is_cacheable(key):
            self._stats.inc("uncacheable")
            return False
        if not self._breaker.allow():
            self._stats.inc("breaker_open")
            return False
        return True

    async def _guarded(
        self, what: str, op: Callable[[], Awaitable[_T]], errors: tuple[type[Exception], ...] = _OP_ERRORS
    ) -> tuple[bool, _T | None]:
        """``(True, op's result)``, or ``(False, None)`` when it failed with one of ``errors``
        (counted, logged, a failure for the breaker). The breaker admitted the call: a
        success is recorded, and a call the caller gave up on (another source answered
        first) is released without a verdict."""
        try:
            result = await op()
        except asyncio.CancelledError:
            self._breaker.release()
            raise
        except errors as exc:
            self._failed(what, exc)
            return False, None
        self._breaker.record(True)
        return True, result

    # --- tiers -----------------------------------------------------------------------

    async def lookup_exact(self, key: CacheKey) -> CacheHit | None:
        if not self._admit(key):
            return None
        eid = entry_id(key_text(key.text), key.language, filter_signature(key.filters))

        async def read() -> CacheEntry | None:
            async with asyncio.timeout(self._op_timeout):
                blob = await self._r.hget(self._ekey(eid), "entry")
            return _entry_from_json(blob) if blob is not None else None

        ok, entry = await self._guarded("exact lookup", read, (*_OP_ERRORS, KeyError))
        if not ok:
            return None
        if entry is None:
            self._stats.inc("exact_miss")
            return None
        self._stats.inc("exact_hit")
        return CacheHit(entry, "exact", 1.0, eid)

    async def lookup_semantic(self, key: CacheKey, embedding: Vector) -> CacheHit | None:
        vec = check_embedding(embedding, self.config.dim)
        if not self._admit(key):
            return None
        k = self.config.k
        query = (
            Query(
                f"(@lang:{{{_tag(key.language)}}} @fsig:{{{_tag(partition_signature(key.filters, key.documents, key.scope))}}} "
                f"@intent:{{{_tag(key.intent)}}})=>[KNN {k} @vec $vec{self._knn_policy} AS dist]"
            )
            .return_fields("dist", "sig", "entry")
            .paging(0, k)
            .dialect(2)
        )

        async def search() -> list[tuple[float, Any]]:
            if not self._index_ready:
                await self.ensure_index()
            async with asyncio.timeout(self._op_timeout):
                result = await self._r.ft(self._index).search(query, query_params={"vec": vec.tobytes()})
            return sorted(((1.0 - float(_text(doc.dist)), doc) for doc in result.docs), key=lambda c: -c[0])

        _, candidates = await self._guarded("semantic lookup", search)
        if candidates is None:  # failed (a search that found nothing is an empty list)
            return None
        query_sig = self._check.signature(key.text)
        rejected = False
        for sim, doc in candidates:
            if sim < self.config.threshold:
                break
            try:
                sig = decode(self._check, orjson.loads(_text(doc.sig)))
                entry = _entry_from_json(_text(doc.entry))
            except (AttributeError, ValueError, KeyError) as exc:
                self._failed("decode", exc)
                continue
            if sig is not None and sig.agrees(query_sig):
                self._stats.inc("semantic_hit")
                return CacheHit(entry, "semantic", sim, _text(doc.id).removeprefix(self._ekey("")))
            rejected = True
        self._stats.inc("guard_reject" if rejected else "semantic_miss")
        return None

    async def store(self, key: CacheKey, embedding: Vector | None, entry: CacheEntry) -> bool:
        vec = None if embedding is None else check_embedding(embedding, self.config.dim)
        if not (is_cacheable(entry.intent, False) and key_is_cacheable(key) and entry.answer):
            self._stats.inc("store_skipped")
            return False
        if entry.created_at + self.config.ttl_s <= time.time():
            self._stats.inc("store_stale")
            return False
        if not self._breaker.allow():
            self._stats.inc("breaker_open")
            return False
        eid = entry_id(key_text(key.text), key.language, filter_signature(key.filters))
        asins = sorted(entry.asins)
        ttl_ms = int(self.config.ttl_s * 1000)
        mapping: dict[FieldT, EncodableT] = {
            "entry": _entry_to_json(entry),
            "sig": orjson.dumps(encode(self._check, key.text)),
            "lang": key.language or "_",
            "fsig": partition_signature(key.filters, entry.documents, key.scope),
            "intent": key.intent or "_",
        }
        if vec is not None:
            mapping["vec"] = vec.tobytes()

        async def write() -> str:
            if not self._index_ready:
                await self.ensure_index()
            async with asyncio.timeout(self._op_timeout):
                if asins:
                    marks = await self._r.mget([f"{self._p}inv:{a}" for a in asins] + [self._all_mark])
                    if any(m is not None and float(m) >= entry.created_at for m in marks):
                        return "store_stale"
                pipe = self._r.pipeline(transaction=False)
                pipe.delete(self._ekey(eid))
                pipe.hset(self._ekey(eid), mapping=mapping)
                pipe.pexpire(self._ekey(eid), ttl_ms)
                for asin in asins:
                    pipe.sadd(f"{self._p}asin:{asin}", eid)
                    pipe.pexpire(f"{self._p}asin:{asin}", ttl_ms)
                await pipe.execute()
            return "stored"

        _, outcome = await self._guarded("store", write)
        if outcome is None:  # failed
            return False
        self._stats.inc(outcome)
        return outcome == "stored"

    async def invalidate_products(self, asins: Iterable[str]) -> int:
        wanted = sorted({str(a) for a in asins})
        if not wanted:
            return 0
        now = time.time()
        memory_ms = int(self.config.invalidation_memory_s * 1000)

        async def drop() -> int:
            pipe = self._r.pipeline(transaction=False)
            for asin in wanted:
                pipe.set(f"{self._p}inv:{asin}", repr(now), px=memory_ms)
                pipe.smembers(f"{self._p}asin:{asin}")
            replies = await pipe.execute()
            members = {asin: {_text(m) for m in replies[2 * i + 1]} for i, asin in enumerate(wanted)}
            ids = sorted(set().union(*members.values()))
            if not ids:
                return 0
            pipe = self._r.pipeline(transaction=False)
            pipe.delete(*[self._ekey(eid) for eid in ids])
            for asin, mids in members.items():
                if mids:
                    pipe.srem(f"{self._p}asin:{asin}", *mids)
            return int((await pipe.execute())[0])

        return await self._invalidation("invalidate", max(self._op_timeout, READ_TIMEOUT_S), drop)

    async def invalidate_all_products(self) -> int:
        now = time.time()
        memory_ms = int(self.config.invalidation_memory_s * 1000)

        async def drop() -> int:
            dropped = 0
            await self._r.set(self._all_mark, repr(now), px=memory_ms)
            async for set_key in self._r.scan_iter(match=f"{self._p}asin:*", count=1000):
                ids = {_text(m) for m in await self._r.smembers(set_key)}
                pipe = self._r.pipeline(transaction=False)
                if ids:
                    pipe.delete(*[self._ekey(eid) for eid in sorted(ids)])
                pipe.delete(set_key)
                replies = await pipe.execute()
                dropped += int(replies[0]) if ids else 0
            return dropped

        return await self._invalidation("invalidate all", max(self._op_timeout, READ_TIMEOUT_S) * 10, drop)

    async def _invalidation(self, what: str, timeout_s: float, drop: Callable[[], Awaitable[int]]) -> int:
        """Run one invalidation within ``timeout_s`` and count what it dropped; a failure is the
        breaker's and the caller's (``CacheUnavailable``: the change must be retried)."""
        try:
            async with asyncio.timeout(timeout_s):
                dropped = await drop()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(what, exc)
            raise CacheUnavailable("cache invalidation failed; retry it") from exc
        self._stats.inc("invalidated", dropped)
        return dropped

    async def size(self) -> int:
        """Entries with an embedding currently in the index."""
        info = await self._r.ft(self._index).info()  # type: ignore[no-untyped-call]
        return int(_text(info["num_docs"]))

    async def clear(self) -> None:
        """Drop the index and every key under the prefix (tests and benchmarks)."""
        with contextlib.suppress(ResponseError):
            await self._r.ft(self._index).dropindex(delete_documents=False)
        self._index_ready = False
        async for k in self._r.scan_iter(match=f"{self._p}*", count=1000):
            await self._r.delete(k)

    async def close(self) -> None:
        await self._r.aclose()
        await self._r.connection_pool.disconnect()
