"""The product catalog: one document per real volume of each language edition.

Series facts (titles, authors, publisher, demographic, genres, volume counts, prices)
come from ``data/series.json``; synopses are ours. Each series becomes one *edition* per
language (Japanese always, English when an official English edition exists), and each
edition becomes one sellable document per volume it has, so the shipped catalog holds
every real volume (≈10k documents over 250 series).

Per-volume store data the facts don't give (release date, page count, ISBN-style keys,
stock) is derived deterministically from the ids, so every run sees the same shop.

Volumes of one edition share the edition's passage embedding (``edition_key``): what a
volume is *about* is its series; what tells volume 20 from volume 21 (the number, the
date) is matched lexically and by filters, not semantically.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

Product = dict[str, Any]

# Fields every document carries (27); ``_``-prefixed keys are internal search text.
DOCUMENT_FIELDS: tuple[str, ...] = (
    "asin",
    "series_id",
    "edition_key",
    "title",
    "title_en",
    "title_ja",
    "title_romaji",
    "authors",
    "publisher",
    "imprint",
    "demographic",
    "genres",
    "tags",
    "language",
    "volumes",
    "volume_number",
    "release_date",
    "page_count",
    "format",
    "isbn_13",
    "price_jpy",
    "in_stock",
    "stock_count",
    "rating",
    "status",
    "start_year",
    "age_rating",
    "synopsis",
    "synopsis_short",
    "image_url",
)

_EN_IMPRINTS = {
    "Viz Media": "Shonen Jump",
    "Kodansha USA": "Kodansha Comics",
    "Yen Press": "Yen Press",
    "Seven Seas": "Seven Seas Entertainment",
    "Dark Horse": "Dark Horse Manga",
}


def _digest(*parts: object) -> int:
    return int(hashlib.sha1(":".join(str(p) for p in parts).encode()).hexdigest()[:12], 16)


def asin_for(series_id: str, language: str, volume: int) -> str:
    """ASIN-style 10-character key, stable per (series, language, volume)."""
    return "B0" + f"{_digest('asin', series_id, language, volume):X}"[-8:].rjust(8, "0")


def isbn13(prefix: str, seed: int) -> str:
    """A syntactically valid ISBN-13 (correct check digit) under a publisher-like prefix."""
    body = (prefix + f"{seed % 10**9:09d}")[:12]
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body))
    return body + str((10 - total % 10) % 10)


def stock_for(asin: str) -> int:
    roll = _digest("stock", asin)
    # About one volume in seven is out of stock; the rest hold 1-40 copies.
    return 0 if roll % 7 == 0 else 1 + roll % 40


def _release_date(start_year: int, volume: int, volumes: int, series_id: str, lang: str) -> date:
    """Volumes spaced as a tankobon run is (about 3-5 months apart), English ~2 years later."""
    first = date(start_year, 1, 1) + timedelta(days=90 + _digest("d0", series_id) % 200)
    if lang == "en":
        first += timedelta(days=540 + _digest("d1", series_id) % 900)
    latest = date(2026, 10, 1)
    first = min(first, latest - timedelta(days=30))
    gap = 95 + _digest("gap", series_id, lang) % 60
    # A run can't be dated in the future: a long run gets the spacing the time allows.
    if volumes > 1 and first + timedelta(days=gap * (volumes - 1)) > latest:
        gap = max(1, (latest - first).days // (volumes - 1))
    jitter = _digest("jit", series_id, lang, volume) % max(1, min(21, gap // 2))
    return first + timedelta(days=gap * (volume - 1) + jitter)


def editions_from_series(s: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        {
            "language": "ja",
            "title": s["title_ja"],
            "authors": s["authors_ja"],
            "publisher": s["publisher_ja"],
            "imprint": s.get("magazine") or s["publisher_ja"],
            "volumes": s["volumes_ja"],
            "price": s["price_jpy"],
            "synopsis": s["synopsis_ja"],
        }
    ]
    if s.get("volumes_en") and s.get("price_en_jpy"):
        publisher = s["publisher_en"] or ""
        out.append(
            {
                "language": "en",
                "title": s["title_en"],
                "authors": s["authors_en"],
                "publisher": publisher,
                "imprint": _EN_IMPRINTS.get(publisher, publisher),
                "volumes": s["volumes_en"],
                "price": s["price_en_jpy"],
                "synopsis": s["synopsis_en"],
            }
        )
    return out


def _short(text: str, language: str) -> str:
    limit = 80 if language == "ja" else 160
    if len(text) <= limit:
        return text
    cut = text[:limit]
    stop = max(cut.rfind("。"), cut.rfind("、")) if language == "ja" else cut.rfind(" ")
    return (cut[: stop if stop > limit // 2 else limit]).rstrip(" ,、") + "…"


def products_from_series(series: list[dict[str, Any]]) -> list[Product]:
    """Expand series records into one document per volume per language edition."""
    products: list[Product] = []
    for s in series:
        for ed in editions_from_series(s):
            lang = ed["language"]
            volumes = int(ed["volumes"])
            edition_key = f"{s['series_id']}:{lang}"
            rating_base = 3.6 + (_digest("rating", s["series_id"]) % 130) / 100
            # A prequel volume 0 (e.g. 呪術廻戦 0) is a real, separately sold book.
            for n in range(0 if s.get("volume_zero") else 1, volumes + 1):
                asin = asin_for(s["series_id"], lang, n)
                stock = stock_for(asin)
                # Japanese tankobon run ~180-220 pages; English omnibus-free editions similar.
                pages = 176 + _digest("pages", edition_key, n) % 60
                # Later volumes of long runs cost a little more (price revisions).
                price = int(ed["price"]) + (22 if n > 60 else 0) + (11 if n > 100 else 0)
                released = _release_date(int(s["start_year"]), max(n, 1), volumes, s["series_id"], lang)
                products.append(
                    {
                        "asin": asin,
                        "series_id": s["series_id"],
                        "edition_key": edition_key,
                        "title": ed["title"],
                        "title_en": s["title_en"],
                        "title_ja": s["title_ja"],
                        "title_romaji": s["title_romaji"],
                        "authors": list(ed["authors"]),
                        "publisher": ed["publisher"] or "",
                        "imprint": ed["imprint"] or "",
                        "demographic": s["demographic"],
                        "genres": list(s["genres"]),
                        "tags": list(s["tags"]),
                        "language": lang,
                        "volumes": volumes,
                        "volume_number": n,
                        "release_date": released.isoformat(),
                        "page_count": pages,
                        "format": "tankobon" if lang == "ja" else "paperback",
                        "isbn_13": isbn13("9784" if lang == "ja" else "9781", _digest("isbn", asin)),
                        "price_jpy": price,
                        "in_stock": stock > 0,
                        "stock_count": stock,
                        "rating": round(min(5.0, rating_base + (_digest("r", asin) % 20 - 10) / 100), 2),
                        "status": s["status"],
                        "start_year": int(s["start_year"]),
                        "age_rating": s["age_rating"],
                        "synopsis": ed["synopsis"],
                        "synopsis_short": _short(ed["synopsis"], lang),
                        "image_url": f"https://images.mangaassist.example/covers/{asin}.jpg",
                        # English facts stay searchable from either edition.
                        "_authors_en": list(s["authors_en"]),
                        "_synopsis_en": s["synopsis_en"],
                        "_synopsis_ja": s["synopsis_ja"],
                    }
                )
    return products


def load_series(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        data: list[dict[str, Any]] = json.load(fh)
    return data


def load_catalog(path: Path) -> list[Product]:
    return products_from_series(load_series(path))


def passage_text(p: Product) -> str:
    """The text embedded for an edition: both titles, authors, genres, tags and synopses."""
    edition = "日本語版" if p["language"] == "ja" else "English edition"
    return (
        f"{p['title_en']} / {p['title_ja']} ({p['title_romaji']}) {edition}. "
        f"{', '.join(p['_authors_en'])} / {', '.join(p['authors'])}. "
        f"{p['demographic']} manga; genres: {', '.join(p['genres'])}; tags: {', '.join(p['tags'])}. "
        f"{p['_synopsis_en']} {p['_synopsis_ja']}"
    )


def name_text(p: Product) -> str:
    """What the lexical (name) matcher sees: titles in every script, authors, the volume number."""
    n = p["volume_number"]
    return " ".join(
        [
            p["title"],
            p["title_en"],
            p["title_ja"],
            p["title_romaji"],
            *p["authors"],
            *p["_authors_en"],
            f"{n}巻",
            f"vol {n}",
            f"volume {n}",
        ]
    )
