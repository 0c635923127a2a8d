"""The local stand-in model answers only from what it is given, in the customer's language."""

from __future__ import annotations

from mangaassist.inference.backend import Finished
from mangaassist.inference.template_emulator import TemplateEmulator, chunk, compose
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2

BERSERK = common_pb2.Product(
    asin="B0TEST0001", title="ベルセルク", authors=["三浦建太郎"], genres=["fantasy", "horror"],
    price_jpy=748, in_stock=True, synopsis_short="傭兵ガッツの復讐の旅。",
)


def prompt(language: str, **kw: object) -> inference_pb2.PromptParts:
    return inference_pb2.PromptParts(question="q", language=language, **kw)  # type: ignore[arg-type]


def test_answer_is_grounded_in_the_products() -> None:
    text = compose("haiku", prompt("ja", products=[BERSERK], intent="product_recommendation"))
    assert "ベルセルク" in text and "748円" in text and "在庫あり" in text
    en = compose("haiku", prompt("en", products=[BERSERK], intent="product_recommendation"))
    assert "¥748" in en and "in stock" in en


def test_no_products_says_so_instead_of_inventing() -> None:
    assert "couldn't find" in compose("haiku", prompt("en"))
    assert "見つかりませんでした" in compose("haiku", prompt("ja"))


def test_documents_ground_faq_answers() -> None:
    text = compose("haiku", prompt("en", documents=["Free shipping over ¥3,000."], intent="shipping_info"))
    assert "Free shipping over ¥3,000." in text


def test_chunks_rebuild_the_text() -> None:
    text = compose("sonnet", prompt("ja", products=[BERSERK]))
    assert "".join(chunk(text)) == text


async def test_stream_ends_with_usage_and_respects_max_tokens() -> None:
    events = [e async for e in TemplateEmulator(0).stream("haiku", prompt("en", products=[BERSERK]), 5)]
    assert all(isinstance(e, str) for e in events[:-1]) and len(events) == 6
    final = events[-1]
    assert isinstance(final, Finished)
    assert final.finish_reason == "max_tokens" and final.output_tokens == 5 and final.input_tokens > 0
