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
import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np

from mangaassist.retrieval.catalog import Product, load_catalog, passage_text
from mangaassist.retrieval.embedder import Embedder
from mangaassist.retrieval.lexical import (
    MIN_CHOICE_STORY_SCORE,
    MIN_STORY_SCORE,
    NameIndex,
    NameMatch,
    StoryIndex,
    compact,
    glossary_terms,
    rrf,
    story_words,
    volume_number,
)
from mangaassist.retrieval.linker import CatalogLinker
from mangaassist.retrieval.store import (
    FilterColumns,
    Filters,
    HnswIndex,
    PartitionedStore,
    PlannedStore,
    SearchResult,
    VectorStore,
)

logger = logging.getLogger(__name__)

INDEX_FORMAT = 2
# A name contained this completely in the query is the item asked for: it goes first.
STRONG_NAME = 0.8
AUTHOR_ORDER_STEP = 0.001  # an author's later-listed works rank just below the earlier ones
# Dense candidates fetched for fusion (at least k).
DENSE_POOL = 30
# "Something like X": weights of the cosine to X, the share of genres/tags, the same demographic,
# and X's main genre (required when the customer names no genre; with one named, "like Haikyu,
# with romance", a romance that is also a sports story comes first).
SIMILAR_WEIGHTS = (0.6, 0.3, 0.1, 0.2)
MIN_PLURAL_TAG = 4  # a plural tag longer than this also meets its singular ("ghosts", not "bus")
SIMILAR_ASKED_WEIGHT = 0.5  # a kind of story the query names outweighs likeness alone
Volume: TypeAlias = int | Literal["latest"] | None
# faiss HNSW graph parameters (chosen by bench/retrieval_sweep.py; see the README).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200


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
    partition: str = ""  # the partition that answered ("language=ja"), "*" for all, "" unpartitioned
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
    """ "ja" when the query has any kana or CJK ideograph, else "en"."""
    return "ja" if any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in query) else "en"


class CatalogIndex:
    def __init__(
        self,
        products: list[Product],
        vectors: np.ndarray,
        embedder: Embedder,
        hnsw: HnswIndex | None = None,
        exact_max_rows: int = 4096,
        exact_max_fraction: float = 0.08,
        store: VectorStore | None = None,
    ) -> None:
        """``store`` defaults to the embedded planned store over ``vectors`` (with ``hnsw`` if given)."""
        self.products = products
        self.embedder = embedder
        self.doc_rows, self.row_first = edition_rows(products)
        self.vectors = vectors
        self.store: VectorStore = store or PlannedStore(
            FilterColumns.from_products(products), vectors, self.doc_rows, hnsw, exact_max_rows, exact_max_fraction
        )
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
        self.stories = StoryIndex([products[first].get("_synopsis_ja", "") for first in self.row_first])
        self.stories_en = StoryIndex([products[first].get("_synopsis_en", "") for first in self.row_first], story_words)
        self._tag_vocabulary = [
            (t, compact(t)) for t in sorted({t.lower() for row in tags for t in row}, key=len, reverse=True)
        ]
        self._row_language = [products[i]["language"] for i in self.row_first]
        self._by_asin = {p["asin"]: i for i, p in enumerate(products)}
        self.version = 0
        # The catalog's entity linker (titles, aliases, authors): when set, it decides which
        # series a query names, instead of the bigram name index ("she loves cats" names no
        # "Love Com").
        self.linker: CatalogLinker | None = None
        self._series_rows: dict[str, list[int]] = {}
        for r, first in enumerate(self.row_first):
            self._series_rows.setdefault(self.products[first]["series_id"], []).append(r)
        # How telling each genre or tag is when two series share it: log(series / series with it),
        # so sharing "supernatural" or "ghosts" says more than sharing "action" ("like" ranking).
        holders: Counter[str] = Counter()
        for rows in self._series_rows.values():
            p = self.products[self.row_first[rows[0]]]
            holders.update({t.lower() for t in (*p["genres"], *p["tags"])})
        n_series = max(1, len(self._series_rows))
        self._term_weight = {t: math.log(n_series / n) for t, n in holders.items()}
        self.graph_params: dict[str, int] = {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION}

    def query_text(self, query: str) -> str:
        """What the embedder sees: the query, plus the English catalog terms of its Japanese genre words."""
        terms = glossary_terms(query)
        return f"{query} ({', '.join(terms)})" if terms else query

    def _tag_terms(self, query: str) -> list[str]:
        text = f" {' '.join(compact(w) for w in query.lower().split())} "
        spaced = f" {query.lower()} "
        # (a plural tag said in the singular: "the pirate one" for "pirates")
        found = [
            t
            for t, folded in self._tag_vocabulary
            if f" {t} " in spaced
            or (len(t) > 3 and f" {folded} " in text)
            or (
                len(t) > MIN_PLURAL_TAG
                and t.endswith("s")
                and not t.endswith("ss")
                and (f" {t[:-1]} " in spaced or f" {folded[:-1]} " in text)
            )
        ]
        return [*glossary_terms(query), *found]

    def update_stock(self, asin: str, stock_count: int) -> bool:
        """Change one document's stock; the caller invalidates cached results."""
        i = self._by_asin.get(asin)
        if i is None:
            return False
        p = self.products[i]
        p["stock_count"] = stock_count
        p["in_stock"] = stock_count > 0
        self.store.set_in_stock(i, stock_count > 0)
        self.version += 1
        return True

    def search(
        self, query: str, vector: np.ndarray, k: int, filters: Filters, hybrid: bool = True, volume: Volume = None
    ) -> SearchOutcome:
        """Synchronous search over an embedded store (benchmarks, tests); the service uses ``asearch``."""
        store = self.store
        if not isinstance(store, PlannedStore | PartitionedStore):
            raise TypeError("a remote store is searched with asearch")
        t0 = time.perf_counter()
        dense = store.search(vector, max(k, DENSE_POOL) if hybrid else k, filters)
        return self._fuse(query, vector, k, filters, hybrid, dense, t0, volume)

    async def asearch(
        self,
        query: str,
        vector: np.ndarray,
        k: int,
        filters: Filters,
        hybrid: bool = True,
        timeout_s: float | None = None,
        volume: Volume = None,
    ) -> SearchOutcome:
        """Hybrid search through whichever store is configured (embedded or OpenSearch).

        ``volume``: the volume number to show of each hit, ``"latest"`` for each hit's last
        volume, or ``None`` for the one the query names (else the first that passes).
        """
        t0 = time.perf_counter()
        dense = await self.store.asearch(vector, max(k, DENSE_POOL) if hybrid else k, filters, timeout_s)
        return self._fuse(query, vector, k, filters, hybrid, dense, t0, volume)

    def series_rows(self, series_ids: frozenset[str]) -> list[int]:
        """The vector rows (editions) of these series."""
        return [r for sid in sorted(series_ids) for r in self._series_rows.get(sid, ())]

    def name_matches(self, query: str) -> list[NameMatch]:
        """Rows whose series the query names, best first."""
        if self.linker is None:
            return self.names.match(query)
        best: dict[int, float] = {}
        for link in self.linker.link(query):
            if link.kind == "sequel":  # (a name only in a conversation about its other series)
                continue
            # An author's works (one link each) a hair apart in the linker's order: their own
            # before those credited after another (Black Jack before Pluto for Tezuka).
            works = link.author_series if link.kind == "author" else ()
            score = link.score - AUTHOR_ORDER_STEP * (works.index(link.series_id) if link.series_id in works else 0)
            for row in self._series_rows.get(link.series_id, ()):
                best[row] = max(best.get(row, 0.0), score)
        return [NameMatch(r, sc) for r, sc in sorted(best.items(), key=lambda rs: (-rs[1], rs[0]))]

    def like_vector(self, series_ids: frozenset[str]) -> np.ndarray | None:
        """The query vector for "something like X": the mean of X's edition vectors, normalised."""
        rows = self.series_rows(series_ids)
        if not rows:
            return None
        mean = self.vectors[rows].mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return (mean / norm).astype(np.float32) if norm else None

    async def asimilar(
        self,
        like: frozenset[str],
        k: int,
        filters: Filters,
        timeout_s: float | None = None,
        volume: Volume = None,
        query: str = "",
    ) -> SearchOutcome:
        """Series like ``like`` (never ``like`` itself): dense neighbours of its editions, re-ranked by
        shared genres and tags and the same demographic, so "like Dandadan" means its kind of story;
        a kind the query names ("like Slam Dunk but soccer", 「野球がいいな」) goes first."""
        t0 = time.perf_counter()
        vector = self.like_vector(like)
        if vector is None:
            return SearchOutcome([], 0, "similar")
        rows = self.series_rows(like)
        seed_terms = {
            t.lower() for r in rows for p in (self.products[self.row_first[r]],) for t in (*p["genres"], *p["tags"])
        }
        weight = self._term_weight
        seed_demo = {self.products[self.row_first[r]]["demographic"] for r in rows}
        asked = {t.lower() for t in self._tag_terms(query)} if query else set()
        excluded = replace(filters, exclude_series_ids=filters.exclude_series_ids | like)
        # Its kind of story: the named series' main genre (listed first).
        primary = {
            self.products[self.row_first[r]]["genres"][0] for r in rows if self.products[self.row_first[r]]["genres"]
        }
        # ... unless the customer ruled it out ("like Haikyu but not sports"): then any kind.
        kinds = frozenset(primary) - filters.excluded_genres
        if not filters.genres and kinds:
            excluded = replace(excluded, genres=kinds)
        dense = await self.store.asearch(vector, max(3 * k, DENSE_POOL), excluded, timeout_s)
        doc_mask = self.store.columns.mask(excluded)

        def rank(item: tuple[int, float]) -> float:
            row, cosine = item
            p = self.products[self.row_first[row]]
            terms = {t.lower() for t in (*p["genres"], *p["tags"])}
            # Weighted Jaccard: shared rare kinds count for more than shared common ones.
            union = sum(weight.get(t, 0.0) for t in terms | seed_terms)
            overlap = sum(weight.get(t, 0.0) for t in terms & seed_terms) / union if union else 0.0
            return (
                SIMILAR_WEIGHTS[0] * cosine
                + SIMILAR_WEIGHTS[1] * overlap
                + SIMILAR_WEIGHTS[2] * (p["demographic"] in seed_demo)
                + SIMILAR_WEIGHTS[3] * bool(primary.intersection(p["genres"]))
                + SIMILAR_ASKED_WEIGHT * bool(asked & terms)
            )

        ranked = sorted(dense.hits, key=lambda item: (-rank(item), item[0]))[:k]
        hits = [Hit(self._representative(row, doc_mask, volume), score) for row, score in ranked]
        return SearchOutcome(
            hits,
            dense.candidates,
            f"similar-{dense.plan}",
            False,
            dense.partition,
            {"dense_ms": (time.perf_counter() - t0) * 1000},
        )

    def _fuse(
        self,
        query: str,
        vector: np.ndarray,
        k: int,
        filters: Filters,
        hybrid: bool,
        dense: SearchResult,
        t0: float,
        volume: Volume = None,
    ) -> SearchOutcome:
        t1 = time.perf_counter()
        if dense.candidates == 0:
            return SearchOutcome([], 0, dense.plan, partition=dense.partition, timings={"dense_ms": (t1 - t0) * 1000})
        doc_mask = self.store.columns.mask(filters)
        row_ok = None if doc_mask is None else self.store.rowmap.lift(doc_mask)
        cosine = {row: score for row, score in dense.hits}
        order = [row for row, _ in dense.hits]
        lexical = False
        names: list[NameMatch] = []
        if hybrid:
            names = [m for m in self.name_matches(query) if row_ok is None or row_ok[m.row]]
            tag_rows = [r for r in self.names.tag_rows(self._tag_terms(query)) if row_ok is None or row_ok[r]]
            # (among a few series named or offered, fewer plot words tell one apart)
            floor = MIN_CHOICE_STORY_SCORE if filters.series_ids else MIN_STORY_SCORE
            story_rows = self.stories.rank(query, min_score=floor, allowed=row_ok) or self.stories_en.rank(
                query, min_score=floor, allowed=row_ok
            )
            if names or tag_rows or story_rows:
                lexical = True
                fused = rrf([order, [m.row for m in names], tag_rows, story_rows])
                strong = {m.row: m.score for m in names if m.score >= STRONG_NAME}
                # Equal name matches (an edition and its translation): the query's script decides.
                lang = query_language(query)
                langs = self._row_language
                order = sorted(
                    fused, key=lambda r: (-strong.get(r, 0.0), r in strong and langs[r] != lang, -fused[r], r)
                )
        order = order[:k]
        wanted: Volume = volume if volume is not None else (volume_number(query) if hybrid else None)
        # A named volume belongs to the named series; with no name matched, to any hit.
        named = {m.row for m in names if m.score >= STRONG_NAME} if lexical else set()
        hits: list[Hit] = []
        for row in order:
            score = cosine.get(row)
            if score is None:
                score = float(self.vectors[row] @ vector)
            hits.append(Hit(self._representative(row, doc_mask, wanted if not named or row in named else None), score))
        t2 = time.perf_counter()
        return SearchOutcome(
            hits,
            dense.candidates,
            dense.plan,
            lexical,
            dense.partition,
            {"dense_ms": (t1 - t0) * 1000, "fusion_ms": (t2 - t1) * 1000},
        )

    def _representative(self, row: int, doc_mask: np.ndarray | None, wanted: Volume) -> int:
        docs = [d for d in self.store.rowmap.docs(row) if doc_mask is None or doc_mask[d]]
        if wanted == "latest":
            return max(docs, key=lambda d: self.products[d]["volume_number"])
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


def catalog_vectors(catalog_path: Path, embedder: Embedder, index_dir: Path) -> tuple[list[Product], np.ndarray]:
    """Documents from the catalog file and their edition vectors (embedded, or from the content-addressed cache)."""
    products = load_catalog(catalog_path)
    _, firsts = edition_rows(products)
    return products, load_or_build_vectors([passage_text(products[i]) for i in firsts], embedder, index_dir)


def build_index(
    catalog_path: Path,
    embedder: Embedder,
    index_dir: Path,
    hnsw: bool = True,
    exact_max_rows: int = 4096,
    exact_max_fraction: float = 0.08,
    partition_by: str | None = None,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
) -> CatalogIndex:
    """Documents, edition vectors and the HNSW graph(s): one, or one per partition value."""
    products, vectors = catalog_vectors(catalog_path, embedder, index_dir)

    def build(v: np.ndarray) -> HnswIndex:
        return HnswIndex.build(v, m=m, ef_construction=ef_construction)

    doc_rows, _ = edition_rows(products)
    columns = FilterColumns.from_products(products)
    store: VectorStore
    if partition_by is not None:
        store = PartitionedStore(
            columns, vectors, doc_rows, partition_by, build if hnsw else None, None, exact_max_rows, exact_max_fraction
        )
    else:
        store = PlannedStore(
            columns, vectors, doc_rows, build(vectors) if hnsw else None, exact_max_rows, exact_max_fraction
        )
    index = CatalogIndex(products, vectors, embedder, store=store)
    index.graph_params = {"m": m, "ef_construction": ef_construction}
    return index


def _graph_file(partition_by: str | None, value: str) -> str:
    return "hnsw.faiss" if partition_by is None else f"hnsw-{partition_by}-{value}.faiss"


def save_index(index: CatalogIndex, catalog_path: Path, index_dir: Path) -> Path:
    """Write ``catalog-<key>/`` with vectors, the HNSW graph(s) and a manifest; returns the folder."""
    store = index.store
    if not isinstance(store, PlannedStore | PartitionedStore):
        raise TypeError("only an embedded store is saved; OpenSearch is loaded with the ingest")
    key = catalog_key(index.products, index.embedder.name)
    folder = index_dir / f"catalog-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_save(folder / "vectors.npy", index.vectors)
    partition_by = store.key if isinstance(store, PartitionedStore) else None
    graphs = store.graphs()
    for value, graph in graphs.items():
        graph.save(str(folder / _graph_file(partition_by, value)))
    manifest = {
        "format": INDEX_FORMAT,
        "key": key,
        "embedder": index.embedder.name,
        "documents": len(index.products),
        "rows": int(index.vectors.shape[0]),
        "hnsw": bool(graphs),
        "partition_by": partition_by,
        "partitions": sorted(graphs),
        **index.graph_params,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return folder


def load_index(
    catalog_path: Path,
    embedder: Embedder,
    index_dir: Path,
    exact_max_rows: int = 4096,
    exact_max_fraction: float = 0.08,
    ef_search: int = 256,
    hnsw: bool | None = None,
    partition_by: str | None = None,
    m: int | None = None,
    ef_construction: int | None = None,
) -> CatalogIndex | None:
    """The saved index for this catalog and embedder, or ``None`` when there is none, it is stale, or
    it was saved with other graph settings (``hnsw`` / ``m`` / ``ef_construction`` given and different,
    or another ``partition_by``)."""
    products = load_catalog(catalog_path)
    folder = index_dir / f"catalog-{catalog_key(products, embedder.name)}"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    vectors: np.ndarray = np.load(folder / "vectors.npy")
    if manifest.get("documents") != len(products) or vectors.shape[1] != embedder.dim:
        return None
    saved_hnsw = bool(manifest.get("hnsw"))
    if manifest.get("partition_by") != partition_by or (hnsw is not None and saved_hnsw != hnsw):
        return None
    if saved_hnsw and (
        (m is not None and manifest.get("m") != m)
        or (ef_construction is not None and manifest.get("ef_construction") != ef_construction)
    ):
        return None
    graphs = (
        {
            value: HnswIndex.load(str(folder / _graph_file(partition_by, value)), ef_search)
            for value in (manifest.get("partitions") or [""])
        }
        if saved_hnsw
        else {}
    )
    doc_rows, _ = edition_rows(products)
    columns = FilterColumns.from_products(products)
    store: VectorStore
    if partition_by is not None:
        store = PartitionedStore(
            columns, vectors, doc_rows, partition_by, None, graphs, exact_max_rows, exact_max_fraction
        )
    else:
        store = PlannedStore(columns, vectors, doc_rows, graphs.get(""), exact_max_rows, exact_max_fraction)
    index = CatalogIndex(products, vectors, embedder, store=store)
    index.graph_params = {"m": manifest.get("m", HNSW_M), "ef_construction": manifest.get("ef_construction", 80)}
    return index
