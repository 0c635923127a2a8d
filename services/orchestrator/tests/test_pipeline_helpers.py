"""Pure helpers of the pipeline: edition choice and gRPC error mapping."""

from __future__ import annotations

import grpc

from mangaassist.orchestrator.dialogue import scope_digest
from mangaassist.orchestrator.schema import ErrorCode
from mangaassist.orchestrator.stages.base import rpc_error
from mangaassist.orchestrator.stages.catalog import in_order, one_edition_per_series, prompt_product
from mangaassist.proto.common.v1 import common_pb2


def p(series: str, language: str) -> common_pb2.Product:
    return common_pb2.Product(asin=f"{series}-{language}", series_id=series, language=language)


def test_one_edition_per_series_prefers_the_customers_language() -> None:
    hits = [p("berserk", "en"), p("berserk", "ja"), p("vagabond", "en"), p("monster", "ja")]
    picked = one_edition_per_series(hits, "ja", 5)
    assert [x.asin for x in picked] == ["berserk-ja", "vagabond-en", "monster-ja"]
    assert [x.asin for x in one_edition_per_series(hits, "en", 2)] == ["berserk-en", "vagabond-en"]


def test_prompt_gets_only_the_fields_it_needs() -> None:
    full = common_pb2.Product(asin="A", title="T", stock_count=3, series_id="s", authors=["x"], price_jpy=0)
    slim = prompt_product(full)
    assert slim.asin == "A" and list(slim.authors) == ["x"] and slim.HasField("price_jpy")
    assert not slim.HasField("stock_count") and not slim.HasField("series_id")


class FakeRpcError(grpc.aio.AioRpcError):
    """Unit-test stand-in for a failed call."""

    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def test_downstream_status_codes_map_to_contract_codes() -> None:
    assert rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE), "intent").code is ErrorCode.UNAVAILABLE
    assert rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED), "x").code is ErrorCode.TIMEOUT
    bad = rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "unknown genre"), "x")
    assert bad.code is ErrorCode.INVALID_REQUEST and bad.message == "unknown genre"
    assert rpc_error(FakeRpcError(grpc.StatusCode.UNKNOWN), "x").code is ErrorCode.INTERNAL


def test_the_order_asked_for_puts_that_product_first_and_partitions_the_cache() -> None:
    listed = [common_pb2.Product(series_id=s, volumes=v, price_jpy=p) for s, v, p in (("a", 30, 500), ("b", 10, 700))]
    assert [p.series_id for p in in_order(listed, "fewest_volumes")] == ["b", "a"]
    assert [p.series_id for p in in_order(listed, "cheapest")] == ["a", "b"]
    assert [p.series_id for p in in_order(listed, "")] == ["a", "b"]  # the search's rank
    dated = [common_pb2.Product(series_id=s, start_year=y) for s, y in (("new", 2015), ("old", 1991))]
    assert [p.series_id for p in in_order(dated, "oldest")] == ["old", "new"]
    assert [p.series_id for p in in_order(dated, "newest")] == ["new", "old"]
    applied = {"constraints": {"genres": ["romance"]}}
    assert scope_digest(applied, "cheapest") != scope_digest(applied, "priciest") != scope_digest(applied)


def test_an_order_question_with_no_number_to_give_says_where_the_number_is() -> None:
    from mangaassist.orchestrator.replies import fixed_reply

    asked = fixed_reply("order_status", "en", None, False, "ask_order_id")
    helped = fixed_reply("order_status", "en", None, False, "answer")
    assert "What is your order number" in asked and "confirmation email" in helped
    assert "注文履歴" in fixed_reply("order_status", "ja", None, False, "answer")
