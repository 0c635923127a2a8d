"""Vector stores behind one protocol. The local default is exact search with pre-filtering.

``ExactStore`` applies every filter as a boolean mask *before* scoring, so a filtered
query returns k hits whenever at least k documents match, and filters hold exactly.
At catalog sizes of a few thousand documents an exact dot product over the filtered
rows costs microseconds; the HNSW and OpenSearch backends slot in behind ``VectorStore``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from mangaassist.retrieval.catalog import Product, passage_text
from mangaassist.retrieval.embedder import Embedder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Filters:
    """Filters that every hit must satisfy; ``None`` / empty means "any"."""

    genres: frozenset[str] = frozenset()
    language: str | None = None
    in_stock: bool | None = None
    min_price_jpy: int | None = None
    max_price_jpy: int | None = None
    demographic: str | None = None


class VectorStore(Protocol):
    def search(self, query: np.ndarray, k: int, filters: Filters) -> tuple[list[tuple[int, float]], int]:
        """Top-k ``(document index, cosine)`` pairs, best first, and how many documents matched."""
        ...


class ExactStore:
    """Exact cosine search over the rows that pass the filters."""

    def __init__(self, products: list[Product], vectors: np.ndarray) -> None:
        if len(products) != vectors.shape[0]:
            raise ValueError("one vector per product is required")
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._language = np.array([p["language"] for p in products])
        self._demographic = np.array([p["demographic"] for p in products])
        self._price = np.array([p["price_jpy"] for p in products], dtype=np.int64)
        self._in_stock = np.array([p["in_stock"] for p in products], dtype=bool)
        genres = sorted({g for p in products for g in p["genres"]})
        self._genre_col = {g: i for i, g in enumerate(genres)}
        self._genres = np.zeros((len(products), len(genres)), dtype=bool)
        for row, p in enumerate(products):
            for g in p["genres"]:
                self._genres[row, self._genre_col[g]] = True

    def _mask(self, f: Filters) -> np.ndarray:
        mask = np.ones(len(self._price), dtype=bool)
        if f.genres:
            cols = [self._genre_col[g] for g in f.genres if g in self._genre_col]
            mask &= self._genres[:, cols].any(axis=1) if cols else False
        if f.language is not None:
            mask &= self._language == f.language
        if f.demographic is not None:
            mask &= self._demographic == f.demographic
        if f.in_stock is not None:
            mask &= self._in_stock == f.in_stock
        if f.min_price_jpy is not None:
            mask &= self._price >= f.min_price_jpy
        if f.max_price_jpy is not None:
            mask &= self._price <= f.max_price_jpy
        return mask

    def search(self, query: np.ndarray, k: int, filters: Filters) -> tuple[list[tuple[int, float]], int]:
        rows = np.flatnonzero(self._mask(filters))
        if rows.size == 0:
            return [], 0
        scores = self._vectors[rows] @ query.astype(np.float32)
        top = min(k, rows.size)
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(rows[i]), float(scores[i])) for i in best], int(rows.size)


def load_or_build_vectors(products: list[Product], embedder: Embedder, index_dir: Path) -> np.ndarray:
    """Passage embeddings for ``products``, cached on disk by content hash.

    The key covers the embedder and every embedded text, so a catalog or model change
    rebuilds and a restart with the same inputs loads in milliseconds.
    """
    texts = [passage_text(p) for p in products]
    key = hashlib.sha256(json.dumps([embedder.name, texts], ensure_ascii=False).encode()).hexdigest()[:24]
    path = index_dir / f"passages-{key}.npy"
    if path.exists():
        vectors: np.ndarray = np.load(path)
        if vectors.shape == (len(texts), embedder.dim):
            return vectors
    logger.info("embedding catalog", extra={"documents": len(texts), "embedder": embedder.name})
    vectors = np.vstack(
        [embedder.embed_passages(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    ).astype(np.float32)
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
