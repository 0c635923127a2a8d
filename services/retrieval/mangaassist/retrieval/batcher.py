"""Micro-batching of concurrent query embeddings: one forward pass for many requests.

One pass over a batch saves each text the per-call cost of the model and of the hop to
its thread (``bench.embed_batch`` measures how much). The first request of a batch opens
a short window (``window_s``, 0 to ~2 ms); the batch goes to the
model when the window ends or ``max_batch`` texts are waiting. While a pass is running,
new requests keep gathering and go in the next pass as soon as it ends, so a busy model
batches more and an idle one adds at most the window. Identical texts in one batch are
embedded once. A failed pass fails every request in it with the same error.

Written here, not taken from a library: the serving frameworks that batch (Ray Serve's
``@serve.batch``, NVIDIA Triton, TorchServe) are whole servers; this is one class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class QueryBatcher:
    """Gathers ``embed(text)`` calls into ``embed_batch(texts)`` calls run in ``executor``."""

    embed_batch: Callable[[list[str]], np.ndarray]
    executor: Executor
    window_s: float = 0.002
    max_batch: int = 32
    batches: list[int] = field(default_factory=list, init=False)  # sizes of the last passes (bounded), for benchmarks
    _pending: list[tuple[str, asyncio.Future[np.ndarray]]] = field(default_factory=list, init=False, repr=False)
    _timer: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _running: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def embed(self, text: str) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((text, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None or not self._pending:
            return  # the running pass takes what is waiting when it ends
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._running = asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[str, asyncio.Future[np.ndarray]]]) -> None:
        texts = list(dict.fromkeys(text for text, _ in batch))
        try:
            vectors = await asyncio.get_running_loop().run_in_executor(self.executor, self.embed_batch, texts)
            rows = {text: vectors[i] for i, text in enumerate(texts)}
            for text, future in batch:
                if not future.done():
                    future.set_result(rows[text])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        finally:
            self.batches = [*self.batches[-999:], len(texts)]
            self._running = None
            if self._pending:
                self._flush()
