"""The product catalog: real series facts we keep in ``data/series.json``.

Each series becomes one product per language edition (Japanese always, English when
an official English edition exists). Stock levels are store data, not series facts:
they are derived deterministically from the product id so every run sees the same shop.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

Product = dict[str, Any]


def _asin(series_id: str, language: str) -> str:
    digest = hashlib.sha1(f"{series_id}:{language}".encode()).hexdigest().upper()
    return "B0" + digest[:8]


def _stock(asin: str) -> int:
    roll = int(hashlib.sha1(f"stock:{asin}".encode()).hexdigest()[:8], 16)
    # About one product in seven is out of stock; the rest hold 1-40 copies.
    return 0 if roll % 7 == 0 else 1 + roll % 40


def products_from_series(series: list[dict[str, Any]]) -> list[Product]:
    """Expand series records into sellable language editions."""
    products: list[Product] = []
    for s in series:
        editions = [("ja", s["title_ja"], s["authors_ja"], s["publisher_ja"], s["volumes_ja"],
                     s["price_jpy"], s["synopsis_ja"])]
        if s.get("volumes_en") and s.get("price_en_jpy"):
            editions.append(("en", s["title_en"], s["authors_en"], s["publisher_en"],
                             s["volumes_en"], s["price_en_jpy"], s["synopsis_en"]))
        for language, title, authors, publisher, volumes, price, synopsis in editions:
            asin = _asin(s["series_id"], language)
            stock = _stock(asin)
            products.append(
                {
                    "asin": asin,
                    "series_id": s["series_id"],
                    "title": title,
                    "title_en": s["title_en"],
                    "title_ja": s["title_ja"],
                    "title_romaji": s["title_romaji"],
                    "authors": list(authors),
                    "publisher": publisher or "",
                    "demographic": s["demographic"],
                    "genres": list(s["genres"]),
                    "tags": list(s["tags"]),
                    "language": language,
                    "volumes": int(volumes),
                    "price_jpy": int(price),
                    "in_stock": stock > 0,
                    "stock_count": stock,
                    "status": s["status"],
                    "start_year": int(s["start_year"]),
                    "age_rating": s["age_rating"],
                    "synopsis_short": synopsis,
                    # English facts stay searchable from either edition.
                    "_authors_en": list(s["authors_en"]),
                    "_synopsis_en": s["synopsis_en"],
                    "_synopsis_ja": s["synopsis_ja"],
                }
            )
    return products


def load_catalog(path: Path) -> list[Product]:
    with path.open(encoding="utf-8") as fh:
        return products_from_series(json.load(fh))


def passage_text(p: Product) -> str:
    """The text embedded for a product: both titles, authors, genres, tags and synopses."""
    edition = "日本語版" if p["language"] == "ja" else "English edition"
    return (
        f"{p['title_en']} / {p['title_ja']} ({p['title_romaji']}) {edition}. "
        f"{', '.join(p['_authors_en'])} / {', '.join(p['authors'])}. "
        f"{p['demographic']} manga; genres: {', '.join(p['genres'])}; tags: {', '.join(p['tags'])}. "
        f"{p['_synopsis_en']} {p['_synopsis_ja']}"
    )
