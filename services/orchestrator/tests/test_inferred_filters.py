"""Filters inferred from the message fill only what the client left unset."""

from __future__ import annotations

from mangaassist.orchestrator.stages.catalog import with_inferred_filters
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2


def test_entities_fill_unset_filters_and_are_reported() -> None:
    entities = intent_pb2.Entities(max_price_jpy=2000, language="en", genres=["fantasy"], excluded_genres=["horror"])
    merged, inferred = with_inferred_filters(common_pb2.SearchFilters(), entities)
    assert (merged.max_price_jpy, merged.language, list(merged.genres)) == (2000, "en", ["fantasy"])
    assert inferred == {"max_price_jpy": 2000, "language": "en", "genres": ["fantasy"]}
    assert not merged.HasField("in_stock") and not merged.HasField("min_price_jpy")


def test_the_clients_own_filters_always_win() -> None:
    client = common_pb2.SearchFilters(max_price_jpy=5000, genres=["romance"], in_stock=False)
    entities = intent_pb2.Entities(max_price_jpy=2000, genres=["fantasy"], in_stock=True, language="ja")
    merged, inferred = with_inferred_filters(client, entities)
    assert (merged.max_price_jpy, list(merged.genres), merged.in_stock) == (5000, ["romance"], False)
    assert inferred == {"language": "ja"}


def test_an_inferred_bound_that_contradicts_the_client_is_dropped() -> None:
    merged, inferred = with_inferred_filters(
        common_pb2.SearchFilters(max_price_jpy=1000), intent_pb2.Entities(min_price_jpy=3000)
    )
    assert merged.max_price_jpy == 1000 and not merged.HasField("min_price_jpy") and inferred == {}


def test_nothing_found_changes_nothing() -> None:
    client = common_pb2.SearchFilters(language="ja")
    merged, inferred = with_inferred_filters(client, intent_pb2.Entities())
    assert merged == client and inferred == {}
