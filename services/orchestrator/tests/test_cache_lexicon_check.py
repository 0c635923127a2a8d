"""Guards of the semantic cache: what must agree between two messages before a cached answer is reused."""

import pytest

from mangaassist.orchestrator.cache import guards_agree, is_cacheable, is_self_contained, signature
from mangaassist.orchestrator.cache.keys import filter_signature, key_text

# Pairs a cached answer must not be reused across, by the reason the guards give.
DISAGREEING: dict[str, list[tuple[str, str]]] = {
    "polarity": [
        ("Is Berserk volume 3 in stock?", "Is Berserk volume 3 out of stock?"),
        ("Is Berserk volume 3 in stock?", "Is Berserk volume 3 not in stock?"),
        ("Is the box set available?", "Is the box set unavailable?"),
        ("Recommend a fantasy manga", "Recommend a fantasy manga without romance"),
        ("Recommend sports manga", "Recommend manga except sports"),
        ("Recommend horror manga", "Recommend manga that isn't horror"),
        ("ベルセルクの3巻はありますか", "ベルセルクの3巻はないですか"),
        ("ベルセルクの3巻はありますか", "ベルセルクの3巻は在庫切れですか"),
        ("ギフトラッピングはできますか", "ギフトラッピングはできませんか"),
        ("ホラー漫画のおすすめは？", "ホラー以外の漫画のおすすめは？"),
        ("Sports manga under 1000 yen", "Sports manga over 1000 yen"),
        ("1000円以下のスポーツ漫画", "1000円以上のスポーツ漫画"),
    ],
    "numbers": [
        ("Is Berserk volume 3 in stock?", "Is Berserk volume 4 in stock?"),
        ("Do you have Kingdom volume 70?", "Do you have Kingdom volume 7?"),
        ("Sports manga under 1000 yen", "Sports manga under 500 yen"),
        ("Romance manga under 1k yen", "Romance manga under 2k yen"),
        ("ワンピース100巻はありますか", "ワンピース101巻はありますか"),
        ("千円以下のミステリー漫画", "二千円以下のミステリー漫画"),
        ("1万円以下の全巻セット", "2万円以下の全巻セット"),
        ("Where is order 123-4567890-1234567?", "Where is order 123-4567890-1234568?"),
    ],
    "entities": [
        ("Who wrote One Piece?", "Who wrote Dragon Ball?"),
        ("Do you have Naruto volume 100?", "Do you have Bleach volume 100?"),
        ("ワンピースの作者は？", "ドラゴンボールの作者は？"),
        ("呪術廻戦の最新刊はいつ発売？", "鬼滅の刃の最新刊はいつ発売？"),
        ("尾田栄一郎の漫画", "鳥山明の漫画"),
        ("Who wrote 鬼滅の刃?", "Who wrote 呪術廻戦?"),
    ],
    "concepts": [
        ("Recommend cheap manga", "Recommend expensive manga"),
        ("Is it a completed series?", "Is it an ongoing series?"),
        ("Do you have Naruto in English?", "Do you have Naruto in Japanese?"),
        ("Recommend shonen manga", "Recommend shojo manga"),
        ("少年漫画のおすすめは？", "少女漫画のおすすめは？"),
        ("How long does shipping take?", "How much does shipping cost?"),
    ],
}


@pytest.mark.parametrize(
    ("reason", "a", "b"),
    [(reason, a, b) for reason, pairs in DISAGREEING.items() for a, b in pairs],
    ids=[f"{reason}-{i}" for reason, pairs in DISAGREEING.items() for i in range(len(pairs))],
)
def test_a_disagreeing_pair_is_refused_for_its_reason(reason: str, a: str, b: str) -> None:
    assert not guards_agree(a, b)
    assert signature(a).disagreement(signature(b)) == reason


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Is Berserk volume 3 in stock?", "Do you have Berserk vol. 3 in stock?"),
        ("Sports manga under 1000 yen", "Sports manga under ¥1,000"),
        ("Sports manga under 1k yen", "sports manga under 1000 yen"),
        ("1000円以下のスポーツ漫画", "千円以下のスポーツ漫画を探しています"),
        ("ベルセルクの3巻はありますか？", "ベルセルク第三巻の在庫はありますか"),
        ("おすすめのダークファンタジーは？", "ダークファンタジーのおすすめを教えてください"),
        ("Who wrote One Piece?", "Who is the author of One Piece?"),
        ("Recommend affordable manga", "Recommend cheap manga"),
        ("送料はいくらですか", "送料はいくら？"),
        ("ＢＥＲＳＥＲＫ　３巻", "berserk 3巻"),
    ],
)
def test_paraphrases_agree(a: str, b: str) -> None:
    assert guards_agree(a, b), (signature(a), signature(b))


def test_adjectives_that_end_in_nai_are_not_negations() -> None:
    assert signature("巻数が少ない漫画").polarity == frozenset()
    assert signature("切ない恋愛漫画").polarity == frozenset()
    assert signature("つまらない質問ですが").polarity == frozenset()


def test_signature_round_trips_through_json() -> None:
    sig = signature("Is Berserk volume 3 out of stock under ¥1,000?")
    assert type(sig).from_json(sig.to_json()) == sig


@pytest.mark.parametrize(
    "text",
    [
        "Is it in stock?",
        "How much is that one?",
        "Anything else like this one?",
        "それの続きは？",
        "これの2巻はありますか",
        "他のおすすめは？",
        "同じ作者の漫画は？",
        "What about Naruto?",
    ],
)
def test_messages_that_refer_to_the_conversation_are_not_self_contained(text: str) -> None:
    assert not is_self_contained(text)


@pytest.mark.parametrize(
    "text",
    [
        "Is Berserk volume 3 in stock?",
        "How long does it take to ship?",
        "One Piece volume 1",
        "在庫があれば買いたいです",
        "この店の送料はいくら？",
        "Recommend manga that isn't violent",
    ],
)
def test_self_contained_messages(text: str) -> None:
    assert is_self_contained(text)


def test_only_product_answers_and_shop_faqs_are_cacheable() -> None:
    for intent in (
        "product_recommendation",
        "product_search",
        "product_question",
        "shipping_info",
        "payment",
        "return_refund",
    ):
        assert is_cacheable(intent, flagged=False)
        assert not is_cacheable(intent, flagged=True)
    for intent in ("order_status", "account", "greeting", "escalation", "out_of_scope", "", "unknown"):
        assert not is_cacheable(intent, flagged=False)


def test_normalise_and_filter_signature() -> None:
    assert key_text("  Ｂｅｒｓｅｒｋ　３巻  はありますか？？ ") == "berserk 3巻 はありますか"
    assert key_text("おすすめのファンタジー") == "おすすめのファンタジー"
    assert filter_signature({}) == filter_signature({"genre": None}) == "none"
    assert filter_signature({"max_price_jpy": 1000, "genre": "sports"}) == filter_signature(
        {"genre": "sports", "max_price_jpy": 1000}
    )
    assert filter_signature({"max_price_jpy": 1000}) != filter_signature({"max_price_jpy": 2000})
    assert filter_signature({"in_stock": True}) != filter_signature({"in_stock": False})
