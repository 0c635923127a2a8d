"""Vector stores behind one protocol, with filters applied during the search.

Documents (sellable volumes) and vector rows are distinct: every document points at one
vector row (volumes of an edition share the edition's passage vector; a synthetic
benchmark catalog has one row per document). A filter is evaluated per document and
lifted to the vector rows ("some volume of this row passes"), so a search returns the
best *rows* — one hit per edition — and never a row without a passing document.

Two search plans over the same vectors:
- ``exact``: a dot product over the matching rows only (pre-filtered brute force);
- ``hnsw``: faiss HNSW with an ``IDSelectorBitmap`` built from the filter, so
  non-matching rows are skipped *inside* the graph walk (a filtered query returns k hits
  whenever ≥ k rows match, unlike post-filtering). The walk can run on 8-bit codes of the
  vectors (``set_hnsw_storage("sq8")``: a quarter of the bytes per visited node) and its
  candidates are rescored exactly from the float32 rows.
``PlannedStore`` picks one per query from the filter's measured selectivity: when few rows
match, scoring them exactly is cheaper than walking a graph where most nodes are masked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mangaassist.retrieval.catalog import Product

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
    series_ids: frozenset[str] = frozenset()
    exclude_series_ids: frozenset[str] = frozenset()
    excluded_genres: frozenset[str] = frozenset()
    status: str | None = None
    max_volumes: int | None = None
    min_volumes: int | None = None


@dataclass(frozen=True)
class SearchResult:
    hits: list[tuple[int, float]]  # (vector row, cosine), best first
    candidates: int  # documents that passed the filters
    plan: str  # "exact", "hnsw", "exact-fallback" (HNSW found fewer than k matches), "opensearch-knn"
    partition: str = ""  # which partition answered: "language=ja", "*" (all, fanned out), "" (unpartitioned)


class FilterColumns:
    """Filterable document fields as compact numpy columns (codes, bitmasks), one row per document."""

    def __init__(
        self,
        language: list[str] | np.ndarray,
        demographic: list[str] | np.ndarray,
        price_jpy: np.ndarray,
        in_stock: np.ndarray,
        genre_bits: np.ndarray,
        genre_names: list[str],
        series: list[str] | np.ndarray | None = None,
        status: list[str] | np.ndarray | None = None,
        volumes: np.ndarray | list[int] | None = None,
    ) -> None:
        """``series``, ``status`` and ``volumes`` (the edition's volume count) are optional: a
        column that was not given cannot be filtered on (synthetic benchmark catalogs)."""
        self.size = len(price_jpy)
        self._codes: dict[str, dict[str, int]] = {}
        self._language = self._encode("language", language)
        self._demographic = self._encode("demographic", demographic)
        self._series = None if series is None else self._encode("series", series, np.uint16)
        self._status = None if status is None else self._encode("status", status)
        self._volumes = None if volumes is None else np.asarray(volumes, dtype=np.int32)
        self._price = np.asarray(price_jpy, dtype=np.int32)
        self._in_stock = np.array(in_stock, dtype=bool)
        if len(genre_names) > 64:
            raise ValueError("at most 64 distinct genres fit the genre bitmask")
        self._genre_bit = {g: np.uint64(1) << np.uint64(i) for i, g in enumerate(genre_names)}
        self._genres = np.asarray(genre_bits, dtype=np.uint64)

    def __len__(self) -> int:
        return self.size

    @classmethod
    def from_products(cls, products: list[Product]) -> FilterColumns:
        genres = sorted({g for p in products for g in p["genres"]})
        bit = {g: 1 << i for i, g in enumerate(genres)}
        bits = np.fromiter(
            (sum(bit[g] for g in set(p["genres"])) for p in products), dtype=np.uint64, count=len(products)
        )
        return cls(
            [p["language"] for p in products],
            [p["demographic"] for p in products],
            np.fromiter((p["price_jpy"] for p in products), dtype=np.int32, count=len(products)),
            np.fromiter((p["in_stock"] for p in products), dtype=bool, count=len(products)),
            bits,
            genres,
            series=cls._optional(products, "series_id"),
            status=cls._optional(products, "status"),
            volumes=cls._optional(products, "volumes"),
        )

    @staticmethod
    def _optional(products: list[Product], name: str) -> list[Any] | None:
        """A column every document has, or ``None`` (partial test and benchmark documents)."""
        if not all(name in p for p in products):
            return None
        return [p[name] for p in products]

    def _encode(self, name: str, values: list[str] | np.ndarray, dtype: type = np.uint8) -> np.ndarray:
        """Strings → integer codes (vectorised: ``np.unique`` also serves million-row columns)."""
        names, codes = np.unique(np.asarray(values), return_inverse=True)
        self._codes[name] = {str(v): i for i, v in enumerate(names)}
        return codes.astype(dtype)

    def _require(self, column: np.ndarray | None, name: str) -> np.ndarray:
        if column is None:
            raise ValueError(f"this catalog has no {name} column to filter on")
        return column

    def _code_mask(self, name: str, column: np.ndarray, values: frozenset[str]) -> np.ndarray:
        codes = [c for v in values if (c := self._codes[name].get(v)) is not None]
        return np.isin(column, np.asarray(codes, dtype=column.dtype)) if codes else np.zeros(self.size, dtype=bool)

    def set_in_stock(self, row: int, in_stock: bool) -> None:
        self._in_stock[row] = in_stock

    def codes(self, name: str) -> tuple[np.ndarray, dict[str, int]]:
        """A categorical column (``language`` / ``demographic``) as codes, and the value → code table."""
        column = {"language": self._language, "demographic": self._demographic}[name]
        return column, dict(self._codes[name])

    def take(self, docs: np.ndarray) -> FilterColumns:
        """The columns of the documents ``docs`` (in that order), sharing the code tables."""
        out = object.__new__(FilterColumns)
        out.size = int(docs.size)
        out._codes = {name: dict(table) for name, table in self._codes.items()}
        out._language = self._language[docs]
        out._demographic = self._demographic[docs]
        out._price = self._price[docs]
        out._in_stock = self._in_stock[docs]
        out._genre_bit = dict(self._genre_bit)
        out._genres = self._genres[docs]
        out._series = None if self._series is None else self._series[docs]
        out._status = None if self._status is None else self._status[docs]
        out._volumes = None if self._volumes is None else self._volumes[docs]
        return out

    def mask(self, f: Filters) -> np.ndarray | None:
        """Boolean mask of matching documents, or ``None`` when the filter matches everything."""
        mask: np.ndarray | None = None

        def both(m: np.ndarray) -> None:
            nonlocal mask
            mask = m if mask is None else mask & m

        if f.genres:
            want = np.uint64(0)
            for g in f.genres:
                want |= self._genre_bit.get(g, np.uint64(0))
            both((self._genres & want) != 0)
        for name, column, value in (
            ("language", self._language, f.language),
            ("demographic", self._demographic, f.demographic),
        ):
            if value is not None:
                code = self._codes[name].get(value)
                both(column == code if code is not None else np.zeros(self.size, dtype=bool))
        if f.in_stock is not None:
            both(self._in_stock if f.in_stock else ~self._in_stock)
        if f.min_price_jpy is not None:
            both(self._price >= f.min_price_jpy)
        if f.max_price_jpy is not None:
            both(self._price <= f.max_price_jpy)
        if f.excluded_genres:
            unwanted = np.uint64(0)
            for g in f.excluded_genres:
                unwanted |= self._genre_bit.get(g, np.uint64(0))
            both((self._genres & unwanted) == 0)
        if f.series_ids:
            both(self._code_mask("series", self._require(self._series, "series"), f.series_ids))
        if f.exclude_series_ids:
            both(~self._code_mask("series", self._require(self._series, "series"), f.exclude_series_ids))
        if f.status is not None:
            both(self._code_mask("status", self._require(self._status, "status"), frozenset({f.status})))
        if f.max_volumes is not None:
            both(self._require(self._volumes, "volumes") <= f.max_volumes)
        if f.min_volumes is not None:
            both(self._require(self._volumes, "volumes") >= f.min_volumes)
        return mask


class RowMap:
    """Which vector row each document uses; documents of one row are contiguous."""

    def __init__(self, doc_rows: np.ndarray) -> None:
        self.doc_rows = np.asarray(doc_rows, dtype=np.int64)
        if self.doc_rows.size and np.any(np.diff(self.doc_rows) < 0):
            raise ValueError("documents must be grouped by vector row in row order")
        self.n_rows = int(self.doc_rows[-1]) + 1 if self.doc_rows.size else 0
        self.identity = bool(np.array_equal(self.doc_rows, np.arange(self.doc_rows.size)))
        counts = np.bincount(self.doc_rows, minlength=self.n_rows)
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.counts = counts

    def lift(self, doc_mask: np.ndarray) -> np.ndarray:
        """Row mask: a row matches when any of its documents does."""
        if self.identity:
            return doc_mask
        return np.logical_or.reduceat(doc_mask, self.starts) & (self.counts > 0)

    def docs(self, row: int) -> range:
        start = int(self.starts[row])
        return range(start, start + int(self.counts[row]))


class VectorStore(Protocol):
    """What the catalog index searches: the embedded stores here, or OpenSearch (``opensearch.py``).

    ``columns`` / ``rowmap`` are the documents' filter columns and row map, which the index
    also uses to pick each hit's volume; ``asearch`` is the one search entry point every
    store has (the embedded ones answer in-process, OpenSearch over HTTP).
    """

    columns: FilterColumns
    rowmap: RowMap

    async def asearch(
        self, query: np.ndarray, k: int, filters: Filters, timeout_s: float | None = None
    ) -> SearchResult:
        """Top-k vector rows with at least one matching document, best first."""
        ...

    def set_in_stock(self, doc: int, in_stock: bool) -> None:
        """One document's stock flag changed (filters see it from the next query on)."""
        ...


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    top = min(k, scores.size)
    if top == 0:
        return np.empty(0, dtype=np.int64)
    best = np.argpartition(-scores, top - 1)[:top]
    return best[np.argsort(-scores[best], kind="stable")]


class ExactIndex:
    """Brute-force inner product over (a subset of) the rows.

    A subset is scored *in place*: faiss's ``fvec_inner_products_by_idx`` reads each
    selected row where it lies and writes one float per row. The obvious numpy form,
    ``vectors[rows] @ q``, first copies the rows (a 40k-row subset of a 1M index is a
    61 MB gather into freshly faulted pages) and then reads the copy again; profiled at
    1M, the copy was ~75 % of the exact plan's time (README, "1M documents").

    A matrix-vector product is memory-bound: run it with one BLAS thread (the service
    limits BLAS to one thread at start), or threads fight over the two cores; the
    by-index scorer is single-threaded for one query.
    """

    def __init__(self, vectors: np.ndarray) -> None:
        import faiss

        self._faiss = faiss
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def scores(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Inner products of ``query`` with the rows ``rows`` (any order), without copying them."""
        faiss = self._faiss
        ids = np.ascontiguousarray(rows, dtype=np.int64)
        n, dim = self.vectors.shape
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        if q.size != dim:
            raise ValueError(f"query has {q.size} dimensions, the index {dim}")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n):
            raise IndexError("row ids out of range")  # faiss reads raw memory: never let it past the end
        out = np.empty(ids.size, dtype=np.float32)
        if ids.size:
            faiss.fvec_inner_products_by_idx(
                faiss.swig_ptr(out),
                faiss.swig_ptr(q),
                faiss.swig_ptr(self.vectors),
                faiss.swig_ptr(ids),
                dim,
                1,
                ids.size,
            )
        return out

    def search(self, query: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[int, float]]:
        if rows is None:
            scores = self.vectors @ query.astype(np.float32, copy=False)
            best = _top_k(scores, k)
            return [(int(i), float(scores[i])) for i in best]
        scores = self.scores(query, rows)
        best = _top_k(scores, k)
        return [(int(rows[i]), float(scores[i])) for i in best]


# Candidates a quantized walk returns for exact rescoring (at least k).
RERANK_CANDIDATES = 64


class HnswIndex:
    """faiss HNSW (inner product on normalised vectors) searched with an in-graph ID filter.

    Built and saved with full-precision vectors (``IndexHNSWFlat``). ``quantize`` swaps
    the graph's vector copy for 8-bit scalar-quantized codes (``IndexHNSWSQ``, same graph):
    a walk at 1M rows is bound by fetching each visited node's vector from memory, and
    codes are a quarter of the bytes. The walk then returns ``RERANK_CANDIDATES`` rows that
    ``rerank`` (the store's exact index) rescores from the float32 vectors, so the scores
    and the final order are exact.
    """

    def __init__(self, index: Any, ef_search: int, filter_power: float = 1.0) -> None:
        import faiss

        self._faiss = faiss
        self.index = index
        self.ef_search = ef_search
        self.filter_power = filter_power
        self.rerank: ExactIndex | None = None

    @property
    def quantized(self) -> bool:
        return isinstance(self.index, self._faiss.IndexHNSWSQ)

    def quantize(self, vectors: np.ndarray, rerank: ExactIndex) -> None:
        """Walk on 8-bit codes of ``vectors`` (the rows this graph was built from), rescoring with ``rerank``."""
        faiss = self._faiss
        if not self.quantized:
            old = self.index
            if old.ntotal != vectors.shape[0] or old.d != vectors.shape[1]:
                raise ValueError("the vectors are not the ones this graph was built from")
            sq = faiss.IndexHNSWSQ(
                old.d, faiss.ScalarQuantizer.QT_8bit, old.hnsw.nb_neighbors(1), faiss.METRIC_INNER_PRODUCT
            )
            sq.storage.train(np.ascontiguousarray(vectors, dtype=np.float32))
            sq.storage.add(np.ascontiguousarray(vectors, dtype=np.float32))
            sq.hnsw = old.hnsw  # a copy of the graph; the flat index (vectors + graph) is freed below
            sq.ntotal = old.ntotal
            sq.is_trained = True
            self.index = sq
            del old
        self.rerank = rerank

    @classmethod
    def build(cls, vectors: np.ndarray, m: int = 32, ef_construction: int = 200, ef_search: int = 256) -> HnswIndex:
        import faiss

        index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, ef_search)

    @classmethod
    def load(cls, path: str, ef_search: int = 256) -> HnswIndex:
        import faiss

        return cls(faiss.read_index(path), ef_search)

    def save(self, path: str) -> None:
        self._faiss.write_index(self.index, path)

    def search(
        self, query: np.ndarray, k: int, row_mask: np.ndarray | None, selectivity: float = 1.0, max_ef: int = 2048
    ) -> list[tuple[int, float]]:
        faiss = self._faiss
        # ef must cover k, or the walk stops before k hits are found; under a filter only
        # a ``selectivity`` share of the visited nodes can be kept, so the walk widens by
        # (1.5/selectivity) ** filter_power: power 1 widens in proportion (what an M 32 /
        # efConstruction 80 graph needed: 60 % match at ef 256 → recall@5 0.92, 512 → 0.96,
        # 1024 → 0.995); a better-connected graph needs less (bench/retrieval_sweep.py).
        widen = (1.5 / max(selectivity, 1e-6)) ** self.filter_power
        ef = self.ef_search if row_mask is None else int(self.ef_search * widen)
        walk_k = k if self.rerank is None else max(k, RERANK_CANDIDATES)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(walk_k, min(max_ef, ef))
        if row_mask is not None:
            bitmap = np.packbits(row_mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(row_mask.size, faiss.swig_ptr(bitmap))
            params.sel = selector
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        scores, ids = self.index.search(q, walk_k, params=params)
        if self.rerank is None:
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        found = ids[0][ids[0] >= 0]
        exact = self.rerank.scores(query, found)
        return [(int(found[i]), float(exact[i])) for i in _top_k(exact, k)]


class PlannedStore:
    """Filters lifted to rows, then exact or HNSW search chosen by selectivity.

    The plan is ``exact`` when the matching rows are few (≤ ``exact_max_rows``) or a
    small fraction of the index (≤ ``exact_max_fraction``), where a masked graph walk
    would visit many nodes to find k survivors; ``hnsw`` otherwise. Without an HNSW
    index every query is exact.
    """

    def __init__(
        self,
        products: list[Product] | FilterColumns,
        vectors: np.ndarray,
        doc_rows: np.ndarray | None = None,
        hnsw: HnswIndex | None = None,
        exact_max_rows: int = 4096,
        exact_max_fraction: float = 0.08,
    ) -> None:
        rows = np.arange(len(products)) if doc_rows is None else doc_rows
        self.rowmap = RowMap(rows)
        if self.rowmap.n_rows != vectors.shape[0]:
            raise ValueError("one vector per row is required")
        self.columns = products if isinstance(products, FilterColumns) else FilterColumns.from_products(products)
        self.exact = ExactIndex(vectors)
        self.hnsw = hnsw
        self.exact_max_rows = exact_max_rows
        self.exact_max_fraction = exact_max_fraction

    def doc_mask(self, filters: Filters) -> np.ndarray | None:
        return self.columns.mask(filters)

    def set_in_stock(self, doc: int, in_stock: bool) -> None:
        self.columns.set_in_stock(doc, in_stock)

    async def asearch(
        self, query: np.ndarray, k: int, filters: Filters, timeout_s: float | None = None
    ) -> SearchResult:
        """In-process (sub-millisecond to a few ms of CPU): no timeout to honour."""
        return self.search(query, k, filters)

    def choose_plan(self, matching_rows: int) -> str:
        if self.hnsw is None:
            return "exact"
        if matching_rows <= self.exact_max_rows or matching_rows <= self.exact_max_fraction * self.rowmap.n_rows:
            return "exact"
        return "hnsw"

    def search(self, query: np.ndarray, k: int, filters: Filters, plan: str | None = None) -> SearchResult:
        doc_mask = self.columns.mask(filters)
        if doc_mask is None:
            candidates, row_mask, matching = self.columns.size, None, self.rowmap.n_rows
        else:
            candidates = int(np.count_nonzero(doc_mask))
            if candidates == 0:
                return SearchResult([], 0, "exact")
            row_mask = self.rowmap.lift(doc_mask)
            matching = int(np.count_nonzero(row_mask))
        chosen = plan or self.choose_plan(matching)
        if chosen == "hnsw" and self.hnsw is not None:
            hits = self.hnsw.search(query, k, row_mask, selectivity=matching / max(1, self.rowmap.n_rows))
            if len(hits) < min(k, matching):
                # The masked walk ran out of reachable matches (a selective filter the
                # planner misjudged): score the matching rows exactly, so k still come back.
                chosen = "exact-fallback"
                hits = self.exact.search(query, k, None if row_mask is None else np.flatnonzero(row_mask))
        else:
            chosen = "exact"
            hits = self.exact.search(query, k, None if row_mask is None else np.flatnonzero(row_mask))
        return SearchResult(hits, candidates, chosen)

    def graphs(self) -> dict[str, HnswIndex]:
        """The HNSW graph(s) to save, by partition value ("" when unpartitioned)."""
        return {"": self.hnsw} if self.hnsw is not None else {}

    def set_ef_search(self, ef_search: int, filter_power: float | None = None) -> None:
        if self.hnsw is not None:
            self.hnsw.ef_search = ef_search
            if filter_power is not None:
                self.hnsw.filter_power = filter_power

    def set_hnsw_storage(self, storage: str) -> None:
        """``sq8``: walk the graph on 8-bit codes and rescore exactly; ``flat``: full-precision walk (as built)."""
        if storage not in ("flat", "sq8"):
            raise ValueError("HNSW storage must be 'flat' or 'sq8'")
        if self.hnsw is None:
            return
        if storage == "sq8":
            self.hnsw.quantize(self.exact.vectors, self.exact)
        elif self.hnsw.quantized:
            raise ValueError("a quantized graph cannot go back to flat storage: load the saved graph again")


# Document fields a store can be partitioned by: categorical, and constant within a vector
# row (an edition's volumes share its language and its series' demographic).
ROUTING_KEYS: tuple[str, ...] = ("language", "demographic")


@dataclass
class Partition:
    value: str
    rows: np.ndarray  # global vector rows of this partition, ascending (local row i = rows[i])
    docs: np.ndarray  # global documents of this partition, ascending (local doc j = docs[j])
    store: PlannedStore


class PartitionedStore:
    """Rows split by a routing key, one ``PlannedStore`` (with its own graph) per value.

    The local analogue of OpenSearch's shard routing (``routing`` / ``preference``): a query
    whose filter names the key's value (``language="ja"``) is routed to that one partition
    and never touches the others' graphs or vectors; a query without it fans out to every
    partition and the per-partition top-k are merged by score. Inside a partition the
    planner chooses exact or HNSW by the filter's selectivity *within the partition*, so a
    routed query's graph walk needs no mask for the key itself.
    """

    def __init__(
        self,
        columns: FilterColumns,
        vectors: np.ndarray,
        doc_rows: np.ndarray,
        key: str,
        build_graph: Any = None,
        graphs: dict[str, HnswIndex] | None = None,
        exact_max_rows: int = 4096,
        exact_max_fraction: float = 0.08,
    ) -> None:
        """``build_graph(vectors) -> HnswIndex`` builds a missing partition graph; ``graphs`` are saved ones."""
        if key not in ROUTING_KEYS:
            raise ValueError(f"partition key must be one of {ROUTING_KEYS}")
        self.key = key
        self.columns = columns
        self.rowmap = RowMap(doc_rows)
        if self.rowmap.n_rows != vectors.shape[0]:
            raise ValueError("one vector per row is required")
        codes, table = columns.codes(key)
        row_code = codes[self.rowmap.starts]
        if np.any(row_code[self.rowmap.doc_rows] != codes):
            raise ValueError(f"the documents of a vector row must share one {key} to partition by it")
        self.parts: dict[str, Partition] = {}
        self._doc_part = np.empty(columns.size, dtype=np.int32)
        self._doc_local = np.empty(columns.size, dtype=np.int64)
        for value, code in sorted(table.items()):
            rows = np.flatnonzero(row_code == code)
            docs = np.flatnonzero(codes == code)
            if rows.size == 0:
                continue
            sub_vectors = np.ascontiguousarray(vectors[rows])
            graph = (graphs or {}).get(value)
            if graph is None and build_graph is not None:
                graph = build_graph(sub_vectors)
            local_rows = np.searchsorted(rows, self.rowmap.doc_rows[docs])
            store = PlannedStore(columns.take(docs), sub_vectors, local_rows, graph, exact_max_rows, exact_max_fraction)
            self._doc_part[docs] = len(self.parts)
            self._doc_local[docs] = np.arange(docs.size)
            self.parts[value] = Partition(value, rows, docs, store)
        self._part_list = list(self.parts.values())

    def doc_mask(self, filters: Filters) -> np.ndarray | None:
        return self.columns.mask(filters)

    def set_in_stock(self, doc: int, in_stock: bool) -> None:
        self.columns.set_in_stock(doc, in_stock)
        part = self._part_list[int(self._doc_part[doc])]
        part.store.set_in_stock(int(self._doc_local[doc]), in_stock)

    def graphs(self) -> dict[str, HnswIndex]:
        return {value: part.store.hnsw for value, part in self.parts.items() if part.store.hnsw is not None}

    def set_ef_search(self, ef_search: int, filter_power: float | None = None) -> None:
        for part in self._part_list:
            part.store.set_ef_search(ef_search, filter_power)

    def set_hnsw_storage(self, storage: str) -> None:
        for part in self._part_list:
            part.store.set_hnsw_storage(storage)

    def route(self, filters: Filters) -> list[Partition]:
        """The partitions a query must touch: the one its filter names, else all of them."""
        value = getattr(filters, self.key)
        if value is None:
            return self._part_list
        part = self.parts.get(value)
        return [part] if part is not None else []

    def search(self, query: np.ndarray, k: int, filters: Filters) -> SearchResult:
        value = getattr(filters, self.key)
        parts = self.route(filters)
        label = "*" if value is None else f"{self.key}={value}"
        if not parts:
            return SearchResult([], 0, "exact", label)
        hits: list[tuple[int, float]] = []
        candidates = 0
        plans: list[str] = []
        for part in parts:
            result = part.store.search(query, k, filters)
            hits += [(int(part.rows[row]), score) for row, score in result.hits]
            candidates += result.candidates
            plans.append(result.plan)
        if len(parts) > 1:
            hits.sort(key=lambda hit: -hit[1])
        return SearchResult(hits[:k], candidates, "+".join(sorted(set(plans))), label)

    async def asearch(
        self, query: np.ndarray, k: int, filters: Filters, timeout_s: float | None = None
    ) -> SearchResult:
        return self.search(query, k, filters)
