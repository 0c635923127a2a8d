"""A deterministic synthetic catalog that scales to 100k and 1M volume documents, for benchmarks.

Shaped like the real shop: series of 1-120 volumes (long tail), 60 % Japanese editions,
shonen-heavy demographics, 1-4 genres with skewed popularity, per-language price bands,
~1 in 7 volumes out of stock. Columns are numpy arrays (a million documents fit in a few
hundred MB); ``document(i)`` materialises any one document with every catalog field.

Vectors: each synthetic series mixes two or three *anchor* vectors (pass the real
catalog's edition embeddings, so the synthetic space has the real one's low intrinsic
dimension) plus noise, and each volume adds a little more noise to its series vector.
The same ``seed`` always gives the same catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mangaassist.common.vocabulary import GENRES
from mangaassist.retrieval.catalog import isbn13
from mangaassist.retrieval.store import FilterColumns

GENRE_NAMES = sorted(GENRES)  # the contract vocabulary, in a fixed (bit) order
DEMOGRAPHICS = ["shonen", "seinen", "shojo", "josei", "kodomo"]
DEMOGRAPHIC_P = [0.45, 0.25, 0.15, 0.10, 0.05]


@dataclass
class SyntheticCatalog:
    series: np.ndarray  # series index per document
    volume_number: np.ndarray
    language: np.ndarray  # "ja" / "en"
    demographic: np.ndarray
    genre_bits: np.ndarray  # uint64 bitmask over GENRE_NAMES
    price_jpy: np.ndarray
    stock_count: np.ndarray
    release_day: np.ndarray  # days since 1970-01-01
    page_count: np.ndarray
    rating: np.ndarray

    def __len__(self) -> int:
        return int(self.series.size)

    def columns(self) -> FilterColumns:
        return FilterColumns(
            self.language, self.demographic, self.price_jpy, self.stock_count > 0, self.genre_bits, GENRE_NAMES
        )

    def document(self, i: int) -> dict[str, Any]:
        """Document ``i`` with the same fields as a real catalog document."""
        s, n, lang = int(self.series[i]), int(self.volume_number[i]), str(self.language[i])
        asin = f"B0S{i:07X}"[:10]
        genres = [g for b, g in enumerate(GENRE_NAMES) if int(self.genre_bits[i]) >> b & 1]
        title_en = f"Synthetic Series {s}"
        return {
            "asin": asin,
            "series_id": f"synthetic-{s}",
            "edition_key": f"synthetic-{s}:{lang}",
            "title": title_en if lang == "en" else f"架空シリーズ{s}",
            "title_en": title_en,
            "title_ja": f"架空シリーズ{s}",
            "title_romaji": f"Kaku Shirizu {s}",
            "authors": [f"Author {s % 9973}"],
            "publisher": ["Shueisha", "Kodansha", "Shogakukan", "Kadokawa"][s % 4],
            "imprint": "Synthetic Comics",
            "demographic": str(self.demographic[i]),
            "genres": genres,
            "tags": [],
            "language": lang,
            "volumes": int(np.count_nonzero(self.series == s)),
            "volume_number": n,
            "release_date": str(np.datetime64(int(self.release_day[i]), "D")),
            "page_count": int(self.page_count[i]),
            "format": "tankobon" if lang == "ja" else "paperback",
            "isbn_13": isbn13("9784" if lang == "ja" else "9781", i),
            "price_jpy": int(self.price_jpy[i]),
            "in_stock": bool(self.stock_count[i] > 0),
            "stock_count": int(self.stock_count[i]),
            "rating": float(self.rating[i]),
            "status": "ongoing" if s % 3 else "completed",
            "start_year": 1990 + s % 35,
            "age_rating": "13+",
            "synopsis": f"Synthetic series {s}, volume {n}.",
            "synopsis_short": f"Synthetic series {s}.",
            "image_url": f"https://images.mangaassist.example/covers/{asin}.jpg",
        }


def generate(n_docs: int, seed: int = 0) -> SyntheticCatalog:
    """``n_docs`` volume documents with realistic field distributions (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    # Series lengths: a long tail (most runs are short, a few are very long).
    lengths = np.clip(rng.lognormal(mean=2.4, sigma=0.9, size=n_docs // 4 + 10).astype(np.int64), 1, 120)
    ends = np.cumsum(lengths)
    n_series = int(np.searchsorted(ends, n_docs)) + 1
    lengths = lengths[:n_series]
    lengths[-1] -= int(ends[n_series - 1] - n_docs)
    series = np.repeat(np.arange(n_series), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    volume_number = np.arange(n_docs) - np.repeat(starts, lengths) + 1

    s_lang = np.where(rng.random(n_series) < 0.6, "ja", "en")
    s_demo = rng.choice(DEMOGRAPHICS, size=n_series, p=DEMOGRAPHIC_P)
    popularity = 1.0 / np.arange(1, len(GENRE_NAMES) + 1) ** 0.8
    popularity /= popularity.sum()
    s_bits = np.zeros(n_series, dtype=np.uint64)
    n_genres = rng.integers(1, 5, size=n_series)
    for j in range(4):
        pick = rng.choice(len(GENRE_NAMES), size=n_series, p=popularity).astype(np.uint64)
        s_bits |= np.where(n_genres > j, np.uint64(1) << pick, np.uint64(0))
    s_price = np.where(
        s_lang == "ja",
        rng.choice([418, 460, 484, 528, 594, 693, 748, 880], size=n_series),
        rng.choice([1300, 1650, 1980, 2200, 2500], size=n_series),
    )
    s_first = rng.integers(
        np.datetime64("1975-01-01").astype(int), np.datetime64("2025-06-01").astype(int), size=n_series
    )
    stock = rng.integers(1, 41, size=n_docs)
    stock[rng.random(n_docs) < 1 / 7] = 0
    return SyntheticCatalog(
        series=series,
        volume_number=volume_number,
        language=s_lang[series],
        demographic=s_demo[series],
        genre_bits=s_bits[series],
        price_jpy=s_price[series].astype(np.int32),
        stock_count=stock,
        release_day=s_first[series] + (volume_number - 1) * 120,
        page_count=rng.integers(176, 236, size=n_docs),
        rating=np.round(rng.uniform(3.2, 5.0, size=n_docs), 2),
    )


def vectors(catalog: SyntheticCatalog, anchors: np.ndarray, seed: int = 0, batch: int = 65536) -> np.ndarray:
    """Unit vectors: series = mix of anchors + noise; volume = series + small noise (float32)."""
    rng = np.random.default_rng(seed + 1)
    dim = anchors.shape[1]
    n_series = int(catalog.series[-1]) + 1
    picks = rng.integers(0, anchors.shape[0], size=(n_series, 3))
    weights = rng.dirichlet([1.0, 1.0, 1.0], size=n_series).astype(np.float32)
    centre = np.einsum("sk,skd->sd", weights, anchors[picks]).astype(np.float32)
    centre += rng.normal(scale=0.02, size=centre.shape).astype(np.float32)
    out = np.empty((len(catalog), dim), dtype=np.float32)
    for start in range(0, len(catalog), batch):
        rows = slice(start, min(start + batch, len(catalog)))
        v = centre[catalog.series[rows]] + rng.normal(scale=0.01, size=(rows.stop - start, dim)).astype(np.float32)
        out[rows] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out
