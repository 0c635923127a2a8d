"""``python -m mangaassist.retrieval.ingest`` (``make catalog``): build and save the catalog index.

Embedded store (default): expands the catalog file into volume documents, embeds each
edition's passage (reusing the content-addressed cache), builds the faiss HNSW graph(s) —
one per partition with ``MANGAASSIST_RETRIEVAL_PARTITION_BY`` — and writes them under the
index directory, where the service finds them at start.

``--opensearch`` (or ``MANGAASSIST_RETRIEVAL_STORE=opensearch``): creates the OpenSearch index
(knn_vector mapping) if it is missing and bulk-loads one document per edition, with the
routing key when partitioned. ``--recreate`` drops and recreates the index first.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.engine import build_index, catalog_vectors, edition_rows, save_index
from mangaassist.retrieval.opensearch import ingest, make_client
from mangaassist.retrieval.store import RowMap


async def to_opensearch(settings: RetrievalSettings, recreate: bool) -> str:
    config = settings.opensearch_config()
    embedder = make_embedder(settings.embedder, **settings.embedder_options())
    products, vectors = catalog_vectors(settings.catalog_path, embedder, settings.index_dir)
    doc_rows, _ = edition_rows(products)
    client = make_client(config)
    try:
        rows = await ingest(client, config, products, RowMap(doc_rows), vectors, recreate=recreate)
    finally:
        await client.close()
        closer = getattr(embedder, "aclose", None)
        if closer is not None:
            await closer()
    return f"{len(products)} volume documents -> {rows} edition rows in OpenSearch index {config.index!r}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-hnsw", action="store_true", help="exact search only (no graph)")
    parser.add_argument("--opensearch", action="store_true", help="bulk-load the OpenSearch index instead")
    parser.add_argument("--recreate", action="store_true", help="with --opensearch: drop and recreate the index")
    args = parser.parse_args(argv)
    settings = RetrievalSettings()
    t0 = time.perf_counter()
    if args.opensearch or settings.store == "opensearch":
        print(f"{asyncio.run(to_opensearch(settings, args.recreate))} in {time.perf_counter() - t0:.1f} s")
        return 0
    index = build_index(
        settings.catalog_path,
        make_embedder(settings.embedder, **settings.embedder_options()),
        settings.index_dir,
        hnsw=not args.no_hnsw,
        partition_by=settings.partition_by,
        m=settings.hnsw_m,
        ef_construction=settings.hnsw_ef_construction,
    )
    folder = save_index(index, settings.catalog_path, settings.index_dir)
    series = len({p["series_id"] for p in index.products})
    print(
        f"{len(index.products)} volume documents, {series} series, {index.vectors.shape[0]} edition vectors "
        f"-> {folder.name} in {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
