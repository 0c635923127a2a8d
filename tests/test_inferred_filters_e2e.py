"""End to end: a price, language or genre written in the message filters the products shown."""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection

from tests.conftest import ask


async def test_price_and_genre_in_the_message_filter_the_products(ws: ClientConnection) -> None:
    frames = await ask(ws, "Recommend a fantasy manga in English under ¥2,000, but not horror", request_id="inf-1")
    done = frames[-1]
    assert done["type"] == "done" and done["intent"] == "product_recommendation"
    # "Under ¥2,000" leaves ¥2,000 itself out.
    assert done["inferred_filters"] == {"max_price_jpy": 1999, "language": "en", "genres": ["fantasy"]}
    assert done["products"]
    for p in done["products"]:
        assert p["price_jpy"] < 2000 and p["language"] == "en" and "fantasy" in p["genres"]


async def test_client_filters_win_over_the_message(ws: ClientConnection) -> None:
    frames = await ask(
        ws,
        "Recommend a fantasy manga in English under ¥2,000, but not horror",
        request_id="inf-2",
        filters={"language": "ja", "max_price_jpy": 800},
    )
    done = frames[-1]
    assert done["type"] == "done"
    assert done["inferred_filters"] == {"genres": ["fantasy"]}
    for p in done["products"]:
        assert p["price_jpy"] <= 800 and p["language"] == "ja"


async def test_non_product_questions_infer_nothing(ws: ClientConnection) -> None:
    frames = await ask(ws, "Where is my order MA-2024-00123? I paid under ¥2,000", request_id="inf-3")
    done = frames[-1]
    assert done["intent"] == "order_status" and done["inferred_filters"] == {} and done["products"] == []
