"""The shipped catalog: every real volume of 250 series, both editions, 25+ fields per document."""

from __future__ import annotations

import json
from datetime import date

import pytest

from mangaassist.common.vocabulary import DEMOGRAPHICS, GENRES
from mangaassist.retrieval.catalog import DOCUMENT_FIELDS, Product, load_catalog, passage_text
from mangaassist.retrieval.config import RetrievalSettings


def isbn_ok(isbn: str) -> bool:
    total = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(isbn[:12]))
    return len(isbn) == 13 and isbn.isdigit() and (10 - total % 10) % 10 == int(isbn[12])


@pytest.fixture(scope="module")
def products() -> list[Product]:
    """The shop's products, loaded once for the tests that only read them."""
    return load_catalog(RetrievalSettings().catalog_path)


def test_catalog_has_1000_volumes_over_250_series_in_two_languages(products: list[Product]) -> None:
    series = json.loads(RetrievalSettings().catalog_path.read_text(encoding="utf-8"))
    assert len(series) >= 250 and len({s["series_id"] for s in series}) == len(series)
    assert len(products) >= 1000
    assert {p["language"] for p in products} == {"ja", "en"}
    assert len({p["asin"] for p in products}) == len(products)
    assert len({p["isbn_13"] for p in products}) == len(products)
    assert len(DOCUMENT_FIELDS) >= 25
    for p in products:
        assert set(DOCUMENT_FIELDS) <= set(p)
        assert p["title"] and p["authors"] and p["synopsis_short"] and p["synopsis"]
        assert set(p["genres"]) <= GENRES and p["demographic"] in DEMOGRAPHICS
        assert p["price_jpy"] > 0 and 0 <= p["volume_number"] <= p["volumes"]
        assert p["in_stock"] == (p["stock_count"] > 0)
        assert isbn_ok(p["isbn_13"]) and p["asin"].startswith("B0") and len(p["asin"]) == 10
        assert date(1950, 1, 1) <= date.fromisoformat(p["release_date"]) <= date(2026, 12, 31)
        assert 0 <= p["rating"] <= 5 and 150 < p["page_count"] < 300
    assert any(p["in_stock"] for p in products) and any(not p["in_stock"] for p in products)


def test_volumes_of_an_edition_are_ordered_and_dated_in_order(products: list[Product]) -> None:
    one_piece = [p for p in products if p["edition_key"] == "one-piece:ja"]
    assert [p["volume_number"] for p in one_piece] == list(range(1, len(one_piece) + 1))
    dates = [p["release_date"] for p in one_piece]
    assert dates == sorted(dates)
    # The catalog is deterministic: the same file gives the same shop.
    assert load_catalog(RetrievalSettings().catalog_path)[:50] == products[:50]


def test_passages_carry_both_titles(products: list[Product]) -> None:
    text = passage_text(products[0])
    assert products[0]["title_en"] in text and products[0]["title_ja"] in text
