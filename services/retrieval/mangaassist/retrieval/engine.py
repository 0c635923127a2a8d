"""The catalog index: documents, edition vectors, the planned vector store, the name index.

``build_index`` / ``save_index`` / ``load_index`` are what ``make catalog`` and the service
use: the saved index (edition vectors, the faiss HNSW graph, a manifest keyed by the
catalog's content and the embedder) is loaded at start instead of re-embedding.

``CatalogIndex.search`` is hybrid: the dense ranking (cosine over edition vectors, filters
applied during the search) is fused by reciprocal rank with two lexical rankings — names
(titles / authors, character bigrams, romaji-folded) and tag terms — and an edition whose
name the query contains outright is put first. Each edition hit is shown as one volume:
the volume the query names if it passes the filters, else the first volume that does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mangaassist.retrieval.catalog import Product, load_catalog, passage_text
from mangaassist.retrieval.embedder import Embedder
from mangaassist.retrieval.lexical import NameIndex, NameMatch, glossary_terms, normalise, rrf, volume_number
from mangaassist.retrieval.store import Filters, HnswIndex, PlannedStore

logger = logging.getLogger(__name__)

INDEX_FORMAT = 2
# A name contained this completely in the query is the item asked for: it goes first.
STRONG_NAME = 0.8
# Dense candidates fetched for fusion (at least k).
DENSE_POOL = 30


@dataclass
class Hit:
    doc: int
    score: float  # cosine of the query and the document's passage


@dataclass
class SearchOutcome:
    hits: list[Hit]
    candidates: int
    plan: str
    lexical: bool = False  # a lexical ranking contributed
    timings: dict[str, float] = field(default_factory=dict)


def edition_rows(products: list[Product]) -> tuple[np.ndarray, list[int]]:
    """Row per document (its edition) and the first document of each edition."""
    rows = np.empty(len(products), dtype=np.int64)
    firsts: list[int] = []
    keys: dict[str, int] = {}
    for i, p in enumerate(products):
        row = keys.get(p["edition_key"])
        if row is None:
            row = keys[p["edition_key"]] = len(firsts)
            firsts.append(i)
        rows[i] = row
    return rows, firsts


def query_language(query: str) -> str:
    """"ja" when the query has any kana or CJK ideograph, else "en"."""
    return "ja" if any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in query) else "en"


class CatalogIndex:
    def __init__(self, products: list[Product], vectors: np.ndarray, embedder: Embedder,
                 hnsw: HnswIndex | None, exact_max_rows: int = 4096, exact_max_fraction: float = 0.08) -> None:
        self.products = products
        self.embedder = embedder
        self.doc_rows, self.row_first = edition_rows(products)
        self.vectors = vectors
        self.store = PlannedStore(products, vectors, self.doc_rows, hnsw, exact_max_rows, exact_max_fraction)
        names: list[list[tuple[str, float]]] = []
        tags: list[list[str]] = []
        for first in self.row_first:
            p = products[first]
            own = [(p["title"], 1.0)]
            other = [(t, 0.9) for t in (p["title_en"], p["title_ja"], p["title_romaji"]) if t != p["title"]]
            authors = [(a, 0.7) for a in (*p["authors"], *p["_authors_en"])]
            names.append(own + other + authors)
            tags.append([*p["tags"], *p["genres"]])
        self.names = NameIndex(names, tags)
        self._tag_vocabulary = [(t, normalise(t)) for t in
                                sorted({t.lower() for row in tags for t in row}, key=len, reverse=True)]
        self._row_language = [products[i]["language"] for i in self.row_first]
        self._by_asin = {p["asin"]: i for i, p in enumerate(products)}
        self.version = 0

    def query_text(self, query: str) -> str:
        """What the embedder sees: the query, plus the English catalog terms of its Japanese genre words."""
        terms = glossary_terms(query)
        return f"{query} ({', '.join(terms)})" if terms else query

    def _tag_terms(self, query: str) -> list[str]:
        text = f" {' '.join(normalise(w) for w in query.lower().split())} "
        spaced = f" {query.lower()} "
        found = [t for t, folded in self._tag_vocabulary
                 if f" {t} " in spaced or (len(t) > 3 and f" {folded} " in text)]
        return [*glossary_terms(query), *found]

    def update_stock(self, asin: str, stock_count: int) -> bool:
        """Change one document's stock; the caller invalidates cached results."""
        i = self._by_asin.get(asin)
        if i is None:
            return False
        p = self.products[i]
        p["stock_count"] = stock_count
        p["in_stock"] = stock_count > 0
        self.store.columns.set_in_stock(i, stock_count > 0)
        self.version += 1
        return True

    def search(self, query: str, vector: np.ndarray, k: int, filters: Filters, hybrid: bool = True) -> SearchOutcome:
        t0 = time.perf_counter()
        dense = self.store.search(vector, max(k, DENSE_POOL) if hybrid else k, filters)
        t1 = time.perf_counter()
        if dense.candidates == 0:
            return SearchOutcome([], 0, dense.plan, timings={"dense_ms": (t1 - t0) * 1000})
        doc_mask = self.store.doc_mask(filters)
        row_ok = None if doc_mask is None else self.store.rowmap.lift(doc_mask)
        cosine = {row: score for row, score in dense.hits}
        order = [row for row, _ in dense.hits]
        lexical = False
        names: list[NameMatch] = []
        if hybrid:
            names = [m for m in self.names.match(query) if row_ok is None or row_ok[m.row]]
            tag_rows = [r for r in self.names.tag_rows(self._tag_terms(query)) if row_ok is None or row_ok[r]]
            if names or tag_rows:
                lexical = True
                fused = rrf([order, [m.row for m in names], tag_rows])
                strong = {m.row: m.score for m in names if m.score >= STRONG_NAME}
                # Equal name matches (an edition and its translation): the query's script decides.
                lang = query_language(query)
                langs = self._row_language
                order = sorted(fused, key=lambda r: (-strong.get(r, 0.0), r in strong and langs[r] != lang,
                                                     -fused[r], r))
        order = order[:k]
        wanted = volume_number(query) if hybrid else None
        # A named volume belongs to the named series; with no name matched, to any hit.
        named = {m.row for m in names if m.score >= STRONG_NAME} if lexical else set()
        hits: list[Hit] = []
        for row in order:
            score = cosine.get(row)
            if score is None:
                score = float(self.vectors[row] @ vector)
            hits.append(Hit(self._representative(row, doc_mask, wanted if not named or row in named else None), score))
        t2 = time.perf_counter()
        return SearchOutcome(hits, dense.candidates, dense.plan, lexical,
                             {"dense_ms": (t1 - t0) * 1000, "fusion_ms": (t2 - t1) * 1000})

    def _representative(self, row: int, doc_mask: np.ndarray | None, wanted: int | None) -> int:
        docs = [d for d in self.store.rowmap.docs(row) if doc_mask is None or doc_mask[d]]
        if wanted is not None:
            for d in docs:
                if self.products[d]["volume_number"] == wanted:
                    return d
        return docs[0]


def catalog_key(products: list[Product], embedder_name: str) -> str:
    """Content key of a saved index: the embedder, the format and every embedded passage.

    Documents themselves are re-derived from the catalog file at start (fast); what is
    saved (vectors, graph) depends only on the passages, so a change to the catalog file
    or to the passage text makes the saved index stale.
    """
    _, firsts = edition_rows(products)
    texts = [passage_text(products[i]) for i in firsts]
    blob = json.dumps([embedder_name, INDEX_FORMAT, texts], ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def embed_passages(texts: list[str], embedder: Embedder, batch: int = 64) -> np.ndarray:
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.vstack([embedder.embed_passages(texts[i : i + batch]) for i in range(0, len(texts), batch)]).astype(
        np.float32
    )


def load_or_build_vectors(texts: list[str], embedder: Embedder, index_dir: Path) -> np.ndarray:
    """Passage embeddings cached on disk by content hash (embedder + every text)."""
    key = hashlib.sha256(json.dumps([embedder.name, texts], ensure_ascii=False).encode()).hexdigest()[:24]
    path = index_dir / f"passages-{key}.npy"
    if path.exists():
        cached: np.ndarray = np.load(path)
        if cached.shape == (len(texts), embedder.dim):
            return cached
    logger.info("embedding catalog", extra={"documents": len(texts), "embedder": embedder.name})
    vectors = embed_passages(texts, embedder)
    _atomic_save(path, vectors)
    return vectors


def _atomic_save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)


def build_index(catalog_path: Path, embedder: Embedder, index_dir: Path, hnsw: bool = True,
                exact_max_rows: int = 4096, exact_max_fraction: float = 0.08) -> CatalogIndex:
    """Documents from the catalog file, edition vectors (embedded or cached), HNSW graph."""
    products = load_catalog(catalog_path)
    _, firsts = edition_rows(products)
    vectors = load_or_build_vectors([passage_text(products[i]) for i in firsts], embedder, index_dir)
    graph = HnswIndex.build(vectors) if hnsw else None
    return CatalogIndex(products, vectors, embedder, graph, exact_max_rows, exact_max_fraction)


def save_index(index: CatalogIndex, catalog_path: Path, index_dir: Path) -> Path:
    """Write ``catalog-<key>/`` with vectors, the HNSW graph and a manifest; returns the folder."""
    key = catalog_key(index.products, index.embedder.name)
    folder = index_dir / f"catalog-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_save(folder / "vectors.npy", index.vectors)
    if index.store.hnsw is not None:
        index.store.hnsw.save(str(folder / "hnsw.faiss"))
    manifest = {"format": INDEX_FORMAT, "key": key, "embedder": index.embedder.name,
                "documents": len(index.products), "rows": int(index.vectors.shape[0]),
                "hnsw": index.store.hnsw is not None}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return folder


def load_index(catalog_path: Path, embedder: Embedder, index_dir: Path, exact_max_rows: int = 4096,
               exact_max_fraction: float = 0.08, ef_search: int = 256) -> CatalogIndex | None:
    """The saved index for this catalog and embedder, or ``None`` when there is none (or it is stale)."""
    products = load_catalog(catalog_path)
    folder = index_dir / f"catalog-{catalog_key(products, embedder.name)}"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    vectors: np.ndarray = np.load(folder / "vectors.npy")
    if manifest.get("documents") != len(products) or vectors.shape[1] != embedder.dim:
        return None
    graph = HnswIndex.load(str(folder / "hnsw.faiss"), ef_search) if manifest.get("hnsw") else None
    return CatalogIndex(products, vectors, embedder, graph, exact_max_rows, exact_max_fraction)
