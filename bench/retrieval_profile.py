"""Where the exact plan's time goes on a large index: each step timed apart, scoring variants side by side.

``python -m bench.retrieval_profile [--size 1000000] [--queries 40] [--flat]`` writes
bench/results/retrieval-profile-<size>.json.

The planner's ``exact`` plan for a filter is: evaluate the filter on the document columns
(``mask``), count and lift it to vector rows (``count``), list the matching rows
(``rows``), score them (``score``), keep the best k (``top-k``). Scoring has several
implementations, all timed on the same rows and query in a rotating order (the box is
shared: interleaved, so load falls on every variant alike) and checked to agree:

- ``gather`` — ``vectors[rows] @ q``: numpy copies the selected rows into a new array,
  then BLAS reads the copy (the store's implementation before this profile);
- ``chunked`` — the same gather in 1,024-row chunks into one reused buffer (no page
  faults on a fresh 61 MB array; the chunk stays in cache for the product);
- ``by-index`` — faiss ``fvec_inner_products_by_idx``: each selected row read once where
  it lies, no copy (what ``ExactIndex`` does now);
- ``flat+selector`` (``--flat``) — a faiss ``IndexFlatIP`` searched with an
  ``IDSelectorBitmap`` (needs faiss's own copy of the vectors: +1.5 GB at 1M).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import stamp
from bench.retrieval import FILTERS, QUERIES, pct
from bench.synthetic_catalog import generate, vectors
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.engine import build_index
from mangaassist.retrieval.store import ExactIndex, Filters, _top_k


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=len(QUERIES), help="how many of the benchmark's queries")
    parser.add_argument("--flat", action="store_true", help="also time a faiss IndexFlatIP with an ID selector")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out_path: Path = args.out or Path(__file__).parent / "results" / f"retrieval-profile-{args.size}.json"
    import faiss

    threadpool_limits(1, user_api="blas")
    faiss.omp_set_num_threads(1)
    settings = RetrievalSettings()
    embedder = make_embedder(settings.embedder)
    real = build_index(settings.catalog_path, embedder, settings.index_dir, hnsw=False)
    queries = np.array([embedder.embed_query(q) for q in QUERIES[: args.queries]], dtype=np.float32)
    catalog = generate(args.size)
    vecs = vectors(catalog, real.vectors)
    columns = catalog.columns()
    exact = ExactIndex(vecs)
    flat = None
    if args.flat:
        flat = faiss.IndexFlatIP(vecs.shape[1])
        flat.add(vecs)
    buffer = np.empty((1024, vecs.shape[1]), dtype=np.float32)

    def chunked(rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        out = np.empty(rows.size, dtype=np.float32)
        for i in range(0, rows.size, buffer.shape[0]):
            part = rows[i : i + buffer.shape[0]]
            np.take(vecs, part, axis=0, out=buffer[: part.size])
            np.matmul(buffer[: part.size], q, out=out[i : i + part.size])
        return out

    def with_selector(mask: np.ndarray, q: np.ndarray) -> set[int]:
        assert flat is not None
        bitmap = np.packbits(mask, bitorder="little")
        params = faiss.SearchParameters()
        params.sel = faiss.IDSelectorBitmap(mask.size, faiss.swig_ptr(bitmap))
        _, ids = flat.search(q.reshape(1, -1), 5, params=params)
        return {int(i) for i in ids[0]}

    result: dict[str, Any] = {
        **stamp("retrieval_profile"),
        "documents": args.size,
        "queries": len(queries),
        "load_average_start": round(os.getloadavg()[0], 2),
        "filters": {},
    }
    exact_filters: list[tuple[str, Filters]] = [(label, f) for label, f in FILTERS if f.genres]
    print(f"{'filter':34} {'step':15} {'p50 ms':>8} {'p95 ms':>8}")

    def one_query(f: Filters, q: np.ndarray, turn: int, times: dict[str, list[float]]) -> int:
        """Time every step for one query (the scoring variants in a rotating order); returns matching rows."""

        def timed(name: str, fn: Callable[[], Any]) -> Any:
            t = time.perf_counter()
            value = fn()
            times.setdefault(name, []).append((time.perf_counter() - t) * 1000)
            return value

        mask = timed("mask", lambda: columns.mask(f))
        assert mask is not None
        matching = int(timed("count", lambda: np.count_nonzero(mask)))
        rows = timed("rows", lambda: np.flatnonzero(mask))
        variants: list[tuple[str, Callable[[], Any]]] = [
            ("score: gather", lambda: vecs[rows] @ q),
            ("score: chunked", lambda: chunked(rows, q)),
            ("score: by-index", lambda: exact.scores(q, rows)),
        ]
        if flat is not None:
            variants.append(("flat+selector", lambda: with_selector(mask, q)))
        got: dict[str, Any] = {}
        for name, fn in variants[turn % len(variants) :] + variants[: turn % len(variants)]:
            got[name] = timed(name, fn)
        scores = got["score: by-index"]
        np.testing.assert_allclose(got["score: gather"], scores, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got["score: chunked"], scores, rtol=1e-4, atol=1e-5)
        best = timed("top-k", lambda: _top_k(scores, 5))
        if flat is not None:
            assert got["flat+selector"] == {int(rows[b]) for b in best}
        return matching

    for label, f in exact_filters:
        times: dict[str, list[float]] = {}
        matching = 0
        for i, q in enumerate(queries):
            matching = one_query(f, q, i, times)
        row = {name: {"p50": pct(v, 50), "p95": pct(v, 95)} for name, v in times.items()}
        result["filters"][label] = {"matching_rows": matching, "steps_ms": row}
        for name, v in row.items():
            print(f"{label:34} {name:15} {v['p50']:>8} {v['p95']:>8}")
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
