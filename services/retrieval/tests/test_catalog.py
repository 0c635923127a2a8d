"""The shipped catalog: real series, both editions, complete records."""

from __future__ import annotations

import json

from mangaassist.common.vocabulary import DEMOGRAPHICS, GENRES
from mangaassist.retrieval.catalog import load_catalog, passage_text
from mangaassist.retrieval.config import RetrievalSettings


def test_catalog_has_at_least_200_series_in_two_languages() -> None:
    path = RetrievalSettings().catalog_path
    series = json.loads(path.read_text(encoding="utf-8"))
    assert len(series) >= 200
    assert len({s["series_id"] for s in series}) == len(series)
    products = load_catalog(path)
    assert {p["language"] for p in products} == {"ja", "en"}
    assert len({p["asin"] for p in products}) == len(products)
    for p in products:
        assert p["title"] and p["authors"] and p["synopsis_short"]
        assert set(p["genres"]) <= GENRES and p["demographic"] in DEMOGRAPHICS
        assert p["price_jpy"] > 0 and p["volumes"] > 0
        assert p["in_stock"] == (p["stock_count"] > 0)
    # Both stocked and sold-out products exist, so stock filters mean something.
    assert any(p["in_stock"] for p in products) and any(not p["in_stock"] for p in products)


def test_passages_carry_both_titles() -> None:
    products = load_catalog(RetrievalSettings().catalog_path)
    text = passage_text(products[0])
    assert products[0]["title_en"] in text and products[0]["title_ja"] in text
