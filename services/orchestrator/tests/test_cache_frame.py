"""The frame check (decision 0003): a paraphrase of a cached question is served,
a question about another object, number, limit or action is not.

Sentences here are written for these tests (not taken from bench/cache_eval).
"""

from __future__ import annotations

import orjson
import pytest

from mangaassist.orchestrator.cache import CacheConfig
from mangaassist.orchestrator.cache.checks import decode, encode, get_check
from mangaassist.orchestrator.cache.frame import frame_signature


def agree(a: str, b: str) -> bool:
    return frame_signature(a).agrees(frame_signature(b))


@pytest.mark.parametrize(
    "a, b",
    [
        ("Do you ship manga to Sapporo?", "Do you deliver manga to Sapporo?"),  # a synonym set
        ("Can I use Mastercard?", "Is Mastercard OK for payment?"),  # a frame noun on one side
        ("Do you accept PayPay?", "Can I pay with PayPay?"),  # paying is the frame
        ("How much is shipping to Sendai?", "What is the shipping fee for Sendai?"),  # the price topic
        ("When will Dandadan volume 20 be released?", "What is the release date of Dandadan vol 20?"),
        ("楽天ペイは使えますか？", "楽天ペイで払えますか？"),  # 使う is wording (stop stem), 払う a one-sided verb
        ("仙台に送れますか？", "仙台まで配送してもらえますか？"),  # 「まで」 after a place is not a limit
        ("ダンダダンの電子版はありますか？", "ダンダダンの電子はありますか？"),  # 版 names the kind
        ("ベルセルクの全巻セット、まだありますか？", "ベルセルクの全巻セットはまだ残っていますか？"),
    ],
)
def test_a_paraphrase_is_served(a: str, b: str) -> None:
    assert agree(a, b), frame_signature(a).unmatched(frame_signature(b))


@pytest.mark.parametrize(
    "slot, a, b",
    [
        ("payment method", "Do you accept Rakuten Pay?", "Do you accept Merpay?"),
        ("payment method", "メルペイで払えますか？", "楽天ペイで払えますか？"),
        ("payment method", "Can I pay on delivery?", "Can I pay by card on delivery?"),
        ("carrier", "ネコポスで送れますか？", "ゆうパックで送れますか？"),
        ("carrier", "Do you ship to Sapporo?", "Do you ship to Sapporo by FedEx?"),
        ("delivery area", "Do you deliver to Nagoya?", "Do you deliver to Kobe?"),
        ("delivery area", "仙台に送れますか？", "福岡に送れますか？"),
        ("edition", "Is there a deluxe edition of Vagabond?", "Is there a standard edition of Vagabond?"),
        ("edition", "ダンダダンの英語版はありますか？", "ダンダダンの韓国語版はありますか？"),
        ("format", "Is Dandadan available as an ebook?", "Is Dandadan available as an audiobook?"),
        ("format", "ダンダダンの電子版はありますか？", "ダンダダンの紙の本はありますか？"),
        ("set vs single", "Can I buy Dandadan volume 1?", "Can I buy the Dandadan box set?"),
        ("gift option", "Is gift wrapping free?", "Is a gift bag free?"),
        ("preorder vs stock", "ブルーロックの30巻は在庫がありますか？", "ブルーロックの30巻は予約できますか？"),
        ("title", "Is Dandadan in stock?", "Is Kaiju No. 8 in stock?"),
        ("author", "Who wrote Vagabond?", "Who edited Vagabond?"),
        ("genre", "Do you have cooking manga?", "Do you have fishing manga?"),
        ("time", "Can you deliver tomorrow?", "Can you deliver on Sunday?"),
        ("volume", "Is Berserk volume 3 in stock?", "Is Berserk volume 4 in stock?"),
        ("quantity", "3冊まで買えますか？", "5冊まで買えますか？"),
        ("negation", "Is Berserk volume 3 in stock?", "Is Berserk volume 3 out of stock?"),
        ("negation", "ベルセルクは完結していますか？", "ベルセルクは完結していませんか？"),
        ("direction", "Do you have manga under 800 yen?", "Do you have manga over 800 yen?"),
        ("topic", "How much does express delivery cost?", "How long does express delivery take?"),
        ("action replaced", "Can I buy the Dandadan box set?", "Can I rent the Dandadan box set?"),
        ("action added", "Can I buy the Dandadan box set?", "Can I buy the Dandadan box set wrapped?"),
        ("action replaced", "Can I cancel my pre-order?", "Can I change my pre-order?"),
    ],
)
def test_another_slot_value_is_refused(slot: str, a: str, b: str) -> None:
    assert not agree(a, b), slot
    assert not agree(b, a), slot


def test_a_limit_after_a_number_is_still_a_limit() -> None:
    assert "lt" in frame_signature("1000円までの漫画はありますか？").polarity
    assert "lt" not in frame_signature("カナダまで送れますか？").polarity


def test_the_stored_signature_round_trips_and_carries_the_check_name() -> None:
    check = get_check("frame")
    text = "ダンダダンの英語版の電子書籍はありますか？"
    stored = orjson.loads(orjson.dumps(encode(check, text)))
    assert stored["check"] == "frame"
    back = decode(check, stored)
    assert back is not None and back.agrees(check.signature("ダンダダンの英語の電子書籍はありますか？"))
    assert decode(get_check("lexicon+align"), stored) is None  # another check's entry never agrees


def test_the_default_stays_the_check_with_fewer_wrong_hits_on_the_test_side() -> None:
    # frame serves more paraphrases (40.6 % vs 28.9 %) but served 3 seen-kind near misses
    # against 1 on the held-out side (decision 0003): a wrong answer costs more than a miss.
    assert CacheConfig().check == "lexicon+align"
    assert CacheConfig().threshold == 0.92
