"""Micro-batched query embeddings (unit: a recording fake model in a real thread pool)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mangaassist.retrieval.batcher import QueryBatcher
from mangaassist.retrieval.embedder import HashingEmbedder


class RecordingModel:
    """In-memory fake: embeds with the hashing embedder and records each pass's texts;
    a pass can be held open to let requests pile up behind it."""

    def __init__(self) -> None:
        self.passes: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self._hashing = HashingEmbedder(32)

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.hold.wait(10)
        self.passes.append(list(texts))
        if any(t == "boom" for t in texts):
            raise RuntimeError("model failed")
        return self._hashing.embed_passages(texts)


@pytest.fixture
def pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1)


async def test_concurrent_queries_share_one_pass_and_get_their_own_vectors(pool: ThreadPoolExecutor) -> None:
    model = RecordingModel()
    batcher = QueryBatcher(model, pool, window_s=0.05, max_batch=32)
    texts = [f"query {i}" for i in range(10)] + ["query 3"]
    vectors = await asyncio.gather(*(batcher.embed(t) for t in texts))
    assert len(model.passes) == 1 and sorted(model.passes[0]) == sorted(set(texts))  # duplicates once
    single = HashingEmbedder(32)
    for text, vector in zip(texts, vectors, strict=True):
        assert np.array_equal(vector, single.embed_query(text))


async def test_a_full_batch_goes_at_once_and_requests_behind_a_running_pass_go_next(pool: ThreadPoolExecutor) -> None:
    model = RecordingModel()
    model.hold.clear()
    batcher = QueryBatcher(model, pool, window_s=60.0, max_batch=4)  # only the cap can flush
    first = [asyncio.ensure_future(batcher.embed(f"a{i}")) for i in range(4)]
    await asyncio.sleep(0.05)
    behind = [asyncio.ensure_future(batcher.embed(f"b{i}")) for i in range(3)]
    await asyncio.sleep(0.05)
    model.hold.set()
    await asyncio.gather(*first)
    # The three behind the running pass did not wait for a 60 s window: they went next.
    await asyncio.wait_for(asyncio.gather(*behind), 5)
    assert [sorted(p) for p in model.passes] == [["a0", "a1", "a2", "a3"], ["b0", "b1", "b2"]]


async def test_a_failed_pass_fails_its_requests_and_the_next_pass_works(pool: ThreadPoolExecutor) -> None:
    model = RecordingModel()
    batcher = QueryBatcher(model, pool, window_s=0.01, max_batch=8)
    results = await asyncio.gather(batcher.embed("boom"), batcher.embed("fine"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert (await batcher.embed("fine")).shape == (32,)
