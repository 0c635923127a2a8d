"""``python -m mangaassist.retrieval.ingest`` (``make catalog``): build and save the catalog index.

Expands the catalog file into volume documents, embeds each edition's passage (reusing the
content-addressed cache), builds the faiss HNSW graph and writes them under the index
directory, where the service finds them at start.
"""

from __future__ import annotations

import argparse
import time

from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.engine import build_index, save_index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-hnsw", action="store_true", help="exact search only (no graph)")
    args = parser.parse_args(argv)
    settings = RetrievalSettings()
    t0 = time.perf_counter()
    index = build_index(settings.catalog_path, make_embedder(settings.embedder, **settings.embedder_options()), settings.index_dir,
                        hnsw=not args.no_hnsw)
    folder = save_index(index, settings.catalog_path, settings.index_dir)
    series = len({p["series_id"] for p in index.products})
    print(f"{len(index.products)} volume documents, {series} series, {index.vectors.shape[0]} edition vectors "
          f"-> {folder.name} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
