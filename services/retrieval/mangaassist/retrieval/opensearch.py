"""OpenSearch k-NN backend (production): the same store protocol as the embedded faiss store.

One OpenSearch document per vector row (an edition of the real catalog), so a k-NN hit is
one edition, exactly as in the embedded store. The per-volume filters keep their "some
volume of this edition passes" meaning through per-row fields: language, demographic and
genres are constant within an edition; prices are kept as three numeric arrays — every
volume's (``price_jpy``), in-stock volumes' (``price_in_stock``) and sold-out volumes'
(``price_sold_out``) — so "in stock and ≤ ¥600" is one range on ``price_in_stock``.

The query pre-filters (decision 0008), with the filter *inside* the ``knn`` clause (OpenSearch's
efficient k-NN filtering: the engine pre-filters or walks the graph with the filter, so k
hits come back whenever k rows match — a ``bool.filter`` around a ``knn`` clause would
post-filter the k neighbours instead). ``_source.includes`` asks only for ``edition_key``:
documents are rendered from the service's catalog, so neither the 1,024-float embedding nor
the 25+ fields cross the wire. With a routing key (``language`` / ``demographic``), rows
are indexed with ``routing=<value>`` and a query whose filter names the value is sent with
the same routing, so it touches one shard (managed domains; Serverless manages shards
itself and ignores no routing it is given).

Engines: ``faiss`` (default) and ``lucene`` support efficient filtering; ``nmslib`` does
not (filters there are post-filters) and is deprecated, so it is not offered. Scores are
converted back to cosine from the space's OpenSearch score (``innerproduct``: ip + 1 when
ip ≥ 0, else 1 / (1 − ip); ``cosinesimil``: (1 + cos) / 2).

Stock is shared through the index (several tasks in AWS, each with its own copy of the
catalog): every row also holds its volumes' stock counts (``stock``, read from ``_source``
only) and when they last changed (``stock_version``, ns). ``UpdateStock`` on any task reads
the row, applies its one change and writes the row back (partial ``_update``). A search
takes the stock of every hit from its ``_source`` into the task's copy before anything is
shown; the candidate pre-count leaves stock out (the task's copy may be behind the index);
and every task polls the index for rows whose ``stock_version`` moved (``poll_stock``), so
its copy and its change feed — which its orchestrators follow to drop cached answers —
carry changes made on any task (decision 0004).

Failures become ``OpenSearchError`` with a ``kind`` the service maps to a gRPC status:
timeouts → ``timeout``, 429 → ``throttled`` (after one retry), 5xx / unreachable →
``unavailable``, other 4xx (missing index, refused credentials, rejected query) → ``rejected``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

import numpy as np

from mangaassist.retrieval.catalog import Product
from mangaassist.retrieval.store import ROUTING_KEYS, FilterColumns, Filters, RowMap, SearchResult

if TYPE_CHECKING:
    from opensearchpy import AsyncOpenSearch

logger = logging.getLogger(__name__)

ErrorKind = Literal["timeout", "throttled", "unavailable", "rejected"]
PLAN = "opensearch-knn"
VECTOR_FIELD = "embedding"
STOCK_FIELD = "stock"  # the row's volumes' stock counts, in volume order (``_source`` only)
STOCK_VERSION_FIELD = "stock_version"  # when the row's stock last changed (ns since the epoch)
# Rows seen by a stock poll: changes older than the newest seen are asked for again for this
# long (a row written by a task whose clock is behind, or not yet searchable, is not missed).
POLL_OVERLAP_NS = 30 * 10**9
POLL_ROWS = 1000
# A row document's other fields (what filters match and results show), by OpenSearch type.
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "keyword": ("edition_key", "series_id", "language", "demographic", "genres", "status"),
    "text": ("title", "title_en", "title_ja"),
    "integer": ("price_jpy", "price_in_stock", "price_sold_out", "volumes"),
}
# Retried once by the client (2 attempts, decision 0008); timeouts are not retried (the deadline is spent).
RETRY_ON_STATUS = (429, 502, 503, 504)


class OpenSearchError(Exception):
    """A failed OpenSearch call, classified for the caller (no request body, no credentials)."""

    def __init__(self, message: str, kind: ErrorKind) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class OpenSearchConfig:
    url: str  # https://<id>.<region>.aoss.amazonaws.com or a managed domain endpoint
    index: str = "manga-catalog"
    auth: Literal["sigv4", "none"] = "sigv4"
    service: Literal["aoss", "es"] = "aoss"  # SigV4 service name: Serverless or managed
    region: str = "us-east-1"
    pool_size: int = 20  # the OpenSearch pool row (decision 0008): 20 connections, keep-alive
    timeout_s: float = 5.0  # the pool row's read timeout; a request's own deadline can only shorten it
    max_retries: int = 1
    engine: Literal["faiss", "lucene"] = "faiss"
    space_type: Literal["innerproduct", "cosinesimil"] = "innerproduct"
    m: int = 32
    ef_construction: int = 256
    ef_search: int | None = None  # sent as the query's method_parameters when set
    routing_key: str | None = None  # "language" / "demographic": one shard per routed query
    shards: int | None = None  # number_of_shards (managed domains only; Serverless decides itself)

    def __post_init__(self) -> None:
        if self.routing_key is not None and self.routing_key not in ROUTING_KEYS:
            raise ValueError(f"routing key must be one of {ROUTING_KEYS}")
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("OpenSearch url must be http(s)://host[:port]")


def make_client(config: OpenSearchConfig) -> AsyncOpenSearch:
    """One pooled ``AsyncOpenSearch`` client (aiohttp keep-alive pool of ``pool_size``), SigV4-signed if asked."""
    from opensearchpy import AsyncHttpConnection, AsyncOpenSearch, AWSV4SignerAsyncAuth

    parsed = urlparse(config.url)
    https = parsed.scheme == "https"
    auth = None
    if config.auth == "sigv4":
        import botocore.session

        credentials = botocore.session.Session().get_credentials()
        if credentials is None:
            raise ValueError("SigV4 needs AWS credentials (environment, profile or task role); none were found")
        auth = AWSV4SignerAsyncAuth(credentials, config.region, config.service)
    return AsyncOpenSearch(
        hosts=[{"host": parsed.hostname, "port": parsed.port or (443 if https else 80)}],
        http_auth=auth,
        use_ssl=https,
        verify_certs=https,
        connection_class=AsyncHttpConnection,
        pool_maxsize=config.pool_size,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
        retry_on_status=RETRY_ON_STATUS,
        retry_on_timeout=False,
    )


def index_body(dim: int, config: OpenSearchConfig) -> dict[str, Any]:
    """Settings and mapping: a knn_vector (HNSW, the configured engine and space) and filterable fields."""
    settings: dict[str, Any] = {"knn": True}
    if config.shards is not None:
        settings["number_of_shards"] = config.shards
    return {
        "settings": {"index": settings},
        "mappings": {
            "dynamic": "strict",
            "properties": {
                VECTOR_FIELD: {
                    "type": "knn_vector",
                    "dimension": dim,
                    "method": {
                        "name": "hnsw",
                        "engine": config.engine,
                        "space_type": config.space_type,
                        "parameters": {"m": config.m, "ef_construction": config.ef_construction},
                    },
                },
                **{name: {"type": kind} for kind, names in ROW_FIELDS.items() for name in names},
                STOCK_FIELD: {"type": "integer", "index": False},
                STOCK_VERSION_FIELD: {"type": "long"},
            },
        },
    }


def stock_fields(products: list[Product], docs: range | list[int]) -> dict[str, list[int]]:
    """The row's price arrays — every volume, in-stock volumes, sold-out volumes (sorted,
    distinct) — and its volumes' stock counts in volume order."""
    prices = [(products[d]["price_jpy"], products[d]["in_stock"]) for d in docs]
    return {
        "price_jpy": sorted({p for p, _ in prices}),
        "price_in_stock": sorted({p for p, ok in prices if ok}),
        "price_sold_out": sorted({p for p, ok in prices if not ok}),
        STOCK_FIELD: [int(products[d].get("stock_count", 1 if products[d]["in_stock"] else 0)) for d in docs],
    }


def row_documents(products: list[Product], rowmap: RowMap, vectors: np.ndarray) -> Iterator[dict[str, Any]]:
    """One index document per vector row; raises if a per-edition field varies inside a row."""
    for row in range(rowmap.n_rows):
        docs = rowmap.docs(row)
        first = products[docs.start]
        for name in ("edition_key", "language", "demographic"):
            if any(products[d][name] != first[name] for d in docs):
                raise ValueError(f"documents of row {row} differ in {name}: rows must be editions")
        yield {
            "edition_key": first["edition_key"],
            "series_id": first["series_id"],
            "title": first["title"],
            "title_en": first["title_en"],
            "title_ja": first["title_ja"],
            "language": first["language"],
            "demographic": first["demographic"],
            "genres": sorted({g for d in docs for g in products[d]["genres"]}),
            **stock_fields(products, docs),
            "volumes": first["volumes"],
            "status": first["status"],
            STOCK_VERSION_FIELD: 0,
            VECTOR_FIELD: [float(x) for x in vectors[row]],
        }


def filter_clauses(f: Filters) -> list[dict[str, Any]]:
    """``Filters`` as OpenSearch filter clauses over the row fields (same meaning as the embedded mask)."""
    out: list[dict[str, Any]] = []
    if f.genres:
        out.append({"terms": {"genres": sorted(f.genres)}})
    if f.language is not None:
        out.append({"term": {"language": f.language}})
    if f.demographic is not None:
        out.append({"term": {"demographic": f.demographic}})
    if f.series_ids:
        out.append({"terms": {"series_id": sorted(f.series_ids)}})
    if f.status is not None:
        out.append({"term": {"status": f.status}})
    volumes: dict[str, int] = {}
    if f.min_volumes is not None:
        volumes["gte"] = f.min_volumes
    if f.max_volumes is not None:
        volumes["lte"] = f.max_volumes
    if volumes:
        out.append({"range": {"volumes": volumes}})
    unwanted: list[dict[str, Any]] = []
    if f.exclude_series_ids:
        unwanted.append({"terms": {"series_id": sorted(f.exclude_series_ids)}})
    if f.excluded_genres:
        unwanted.append({"terms": {"genres": sorted(f.excluded_genres)}})
    if unwanted:
        out.append({"bool": {"must_not": unwanted}})
    price: dict[str, int] = {}
    if f.min_price_jpy is not None:
        price["gte"] = f.min_price_jpy
    if f.max_price_jpy is not None:
        price["lte"] = f.max_price_jpy
    field = {None: "price_jpy", True: "price_in_stock", False: "price_sold_out"}[f.in_stock]
    if price:
        out.append({"range": {field: price}})
    elif f.in_stock is not None:
        out.append({"exists": {"field": field}})
    return out


def to_cosine(score: float, space_type: str) -> float:
    """OpenSearch's k-NN score back to the cosine of two unit vectors."""
    if space_type == "cosinesimil":
        return 2.0 * score - 1.0
    return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score


class OpenSearchStore:
    """k-NN over an OpenSearch index, behind the embedded stores' protocol (``asearch``)."""

    def __init__(
        self,
        client: AsyncOpenSearch,
        config: OpenSearchConfig,
        products: list[Product],
        columns: FilterColumns,
        doc_rows: np.ndarray,
    ) -> None:
        self.client = client
        self.config = config
        self.products = products
        self.columns = columns
        self.rowmap = RowMap(doc_rows)
        self._row_of = {products[self.rowmap.docs(r).start]["edition_key"]: r for r in range(self.rowmap.n_rows)}
        self._dirty: set[int] = set()
        self._pending: set[int] = set()  # documents changed here and not yet written to the index
        self._seen_version = 0  # the newest ``stock_version`` a poll has seen
        # Told which products' stock this task's copy took from the index (changed elsewhere).
        self.on_stock_change: Callable[[list[str]], None] | None = None

    def query(self, vector: np.ndarray, k: int, filters: Filters) -> tuple[dict[str, Any], dict[str, Any]]:
        """(body, URL params) of one k-NN search."""
        knn: dict[str, Any] = {"vector": [float(x) for x in vector], "k": k}
        clauses = filter_clauses(filters)
        if clauses:
            knn["filter"] = {"bool": {"filter": clauses}}
        if self.config.ef_search is not None:
            knn["method_parameters"] = {"ef_search": self.config.ef_search}
        body = {
            "size": k,
            "_source": {"includes": ["edition_key", STOCK_FIELD]},
            "query": {"knn": {VECTOR_FIELD: knn}},
        }
        params: dict[str, Any] = {}
        value = self.partition_value(filters)
        if value is not None:
            params["routing"] = value
        return body, params

    def partition_value(self, filters: Filters) -> str | None:
        key = self.config.routing_key
        return None if key is None else getattr(filters, key)

    async def asearch(
        self, query: np.ndarray, k: int, filters: Filters, timeout_s: float | None = None
    ) -> SearchResult:
        # Not counted on stock: this task's copy may be behind the index, which filters on it.
        mask = self.columns.mask(replace(filters, in_stock=None))
        candidates = self.columns.size if mask is None else int(np.count_nonzero(mask))
        value = self.partition_value(filters)
        partition = (
            "" if self.config.routing_key is None else ("*" if value is None else f"{self.config.routing_key}={value}")
        )
        if candidates == 0:
            return SearchResult([], 0, PLAN, partition)
        body, params = self.query(query, k, filters)
        timeout = self.config.timeout_s if timeout_s is None else max(0.001, min(timeout_s, self.config.timeout_s))
        reply = await self._call("search", index=self.config.index, body=body, params=params, request_timeout=timeout)
        hits: list[tuple[int, float]] = []
        changed: list[str] = []
        for hit in reply.get("hits", {}).get("hits", []):
            source = hit.get("_source") or {}
            row = self._row_of.get(source.get("edition_key", ""))
            if row is None:
                logger.warning("OpenSearch returned a row this catalog does not have; re-run the ingest")
                continue
            changed += self.take_stock(row, source.get(STOCK_FIELD))
            hits.append((row, to_cosine(float(hit["_score"]), self.config.space_type)))
        self._changed(changed)
        return SearchResult(hits, candidates, PLAN, partition)

    def take_stock(self, row: int, counts: Any) -> list[str]:
        """The index's stock counts for ``row`` into this task's copy (documents changed here
        and not yet written keep theirs); the asins whose stock changed."""
        docs = self.rowmap.docs(row)
        if not isinstance(counts, list) or len(counts) != len(docs):
            return []  # a row indexed before stock counts were: the ingest has not been re-run
        changed: list[str] = []
        for doc, count in zip(docs, counts, strict=True):
            product = self.products[doc]
            if doc in self._pending or not isinstance(count, int) or product.get("stock_count") == count:
                continue
            product["stock_count"] = count
            product["in_stock"] = count > 0
            self.columns.set_in_stock(doc, count > 0)
            changed.append(str(product["asin"]))
        return changed

    def _changed(self, asins: list[str]) -> None:
        if asins and self.on_stock_change is not None:
            self.on_stock_change(asins)

    async def poll_stock(self) -> list[str]:
        """Take the rows whose stock changed (on any task) since the last poll, less
        ``POLL_OVERLAP_NS``; returns the asins whose stock this task's copy changed."""
        since = max(0, self._seen_version - POLL_OVERLAP_NS)
        reply = await self._call(
            "search",
            index=self.config.index,
            body={
                "size": POLL_ROWS,
                "_source": {"includes": ["edition_key", STOCK_FIELD, STOCK_VERSION_FIELD]},
                "query": {"range": {STOCK_VERSION_FIELD: {"gt": since}}},
                "sort": [{STOCK_VERSION_FIELD: "asc"}],
            },
        )
        rows = reply.get("hits", {}).get("hits", [])
        if len(rows) == POLL_ROWS:
            logger.warning("more stock changes than one poll reads; the rest come with the next polls")
        changed: list[str] = []
        for hit in rows:
            source = hit.get("_source") or {}
            row = self._row_of.get(source.get("edition_key", ""))
            version = source.get(STOCK_VERSION_FIELD)
            if isinstance(version, int):
                self._seen_version = max(self._seen_version, version)
            if row is not None:
                changed += self.take_stock(row, source.get(STOCK_FIELD))
        self._changed(changed)
        return changed

    def set_in_stock(self, doc: int, in_stock: bool) -> None:
        """Local columns change now; the row's stock fields are sent by ``sync_stock``."""
        self.columns.set_in_stock(doc, in_stock)
        self._dirty.add(int(self.rowmap.doc_rows[doc]))
        self._pending.add(doc)

    async def sync_stock(self) -> int:
        """Send the changed rows' stock fields (partial updates); returns how many rows were updated.

        Each row is read first: its other volumes take the index's counts (another task may
        have changed them), so a write carries only this task's own changes. Two tasks
        changing volumes of the same edition within one refresh of the index can still
        overwrite each other (no conditional write)."""
        rows = sorted(self._dirty)
        changed: list[str] = []
        for row in rows:  # a row leaves the pending set only once OpenSearch took it (a failure is retried next time)
            docs = self.rowmap.docs(row)
            key = self.products[docs.start]["edition_key"]
            routing = self._routing(docs.start)
            doc_id, counts = await self._current(key, routing)
            changed += self.take_stock(row, counts)
            params = {"routing": routing} if routing is not None else {}
            await self._call(
                "update",
                index=self.config.index,
                id=doc_id,
                body={"doc": {**stock_fields(self.products, docs), STOCK_VERSION_FIELD: time.time_ns()}},
                params=params,
            )
            self._dirty.discard(row)
            self._pending.difference_update(docs)
        self._changed(changed)
        return len(rows)

    async def _current(self, key: str, routing: str | None) -> tuple[str, Any]:
        """The row's document id (Serverless vector collections assign ids) and stock counts."""
        params = {"routing": routing} if routing is not None else {}
        reply = await self._call(
            "search",
            index=self.config.index,
            params=params,
            body={"size": 1, "_source": {"includes": [STOCK_FIELD]}, "query": {"term": {"edition_key": key}}},
        )
        hits = reply.get("hits", {}).get("hits", [])
        if not hits:
            raise OpenSearchError("the edition is not in the OpenSearch index; re-run the ingest", "rejected")
        return str(hits[0]["_id"]), (hits[0].get("_source") or {}).get(STOCK_FIELD)

    def _routing(self, doc: int) -> str | None:
        key = self.config.routing_key
        return None if key is None else str(self.products[doc][key])

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        from opensearchpy.exceptions import ConnectionError as OSConnectionError
        from opensearchpy.exceptions import ConnectionTimeout, TransportError

        try:
            reply: dict[str, Any] = await getattr(self.client, method)(**kwargs)
            return reply
        except ConnectionTimeout as exc:
            raise OpenSearchError("OpenSearch did not answer in time", "timeout") from exc
        except OSConnectionError as exc:
            raise OpenSearchError("cannot reach OpenSearch", "unavailable") from exc
        except TransportError as exc:
            raise classify(exc) from exc

    async def aclose(self) -> None:
        await self.client.close()


def classify(exc: Any) -> OpenSearchError:
    """An HTTP error from OpenSearch as a clear, classified error (status and error type only)."""
    status = exc.status_code if isinstance(exc.status_code, int) else 0
    what = exc.error if isinstance(exc.error, str) else "error"
    if status == 429:
        return OpenSearchError("OpenSearch is throttling requests (429)", "throttled")
    if status >= 500 or status == 0:
        return OpenSearchError(f"OpenSearch failed ({status} {what})", "unavailable")
    if status == 404:
        return OpenSearchError(f"the OpenSearch index is missing ({what}); run the ingest", "rejected")
    if status in (401, 403):
        return OpenSearchError(
            f"OpenSearch refused the request ({status}): check the credentials and the collection's data access policy",
            "rejected",
        )
    return OpenSearchError(f"OpenSearch rejected the request ({status} {what})", "rejected")


async def ingest(
    client: AsyncOpenSearch,
    config: OpenSearchConfig,
    products: list[Product],
    rowmap: RowMap,
    vectors: np.ndarray,
    recreate: bool = False,
    chunk: int = 500,
) -> int:
    """Create the index (mapping) if needed and bulk-load one document per row; returns rows indexed.

    Serverless vector collections do not accept caller-chosen document ids, so there the
    index is recreated on every ingest (re-indexing without ids would duplicate rows); a
    managed domain uses the edition key as the id, so a re-ingest overwrites in place.
    """
    from opensearchpy.exceptions import TransportError
    from opensearchpy.helpers import async_bulk

    aoss = config.service == "aoss" and config.auth == "sigv4"
    try:
        exists = await client.indices.exists(index=config.index)
        if exists and (recreate or aoss):
            await client.indices.delete(index=config.index)
            exists = False
        if not exists:
            await client.indices.create(index=config.index, body=index_body(int(vectors.shape[1]), config))
    except TransportError as exc:
        raise classify(exc) from exc

    async def actions() -> AsyncIterator[dict[str, Any]]:
        for row, doc in enumerate(row_documents(products, rowmap, vectors)):
            action: dict[str, Any] = {"_op_type": "index", "_index": config.index, "_source": doc}
            if not aoss:
                action["_id"] = doc["edition_key"]
            if config.routing_key is not None:
                action["_routing"] = str(products[rowmap.docs(row).start][config.routing_key])
            yield action

    indexed, errors = await async_bulk(client, actions(), chunk_size=chunk, raise_on_error=False, max_retries=2)
    if errors:
        raise OpenSearchError(f"{len(errors) if isinstance(errors, list) else errors} rows failed to index", "rejected")
    return int(indexed)
