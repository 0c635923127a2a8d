"""The cache checks (decision 0003): what a customer would notice is a cached answer to a
*different* question served to them, or a paraphrase of a cached question not served.

Sentences here are written for these tests; the measured evaluation is bench/cache_eval.
The in-process cache (unit lane) stands in for Redis; tests/test_cache_redis.py runs the
same checks through Redis Stack.
"""

from __future__ import annotations

import numpy as np
import pytest

from mangaassist.orchestrator.cache import CacheConfig, CacheEntry, CacheKey, InMemorySemanticCache
from mangaassist.orchestrator.cache.checks import check_names, decode, encode, get_check


def agree(check: str, a: str, b: str) -> bool:
    c = get_check(check)
    return c.signature(a).agrees(c.signature(b))


@pytest.mark.parametrize(
    "a, b",
    [
        # another object of the same category
        ("Do you accept Rakuten Pay?", "Do you accept Merpay?"),
        ("Can I pay by credit card for a box set?", "Can I pay by bank transfer for a box set?"),
        ("メルペイで払えますか？", "楽天ペイで払えますか？"),
        ("ネコポスで送れますか？", "ゆうパックで送れますか？"),
        ("Do you deliver to Nagoya?", "Do you deliver to Kobe?"),
        ("Is Dorohedoro complete?", "Is Dorohedoro Super complete?"),
        # a negation, a number or a direction
        ("Is Berserk volume 3 in stock?", "Is Berserk volume 4 in stock?"),
        ("Is Berserk volume 3 in stock?", "Is Berserk volume 3 out of stock?"),
        ("ベルセルクの3巻はありますか？", "ベルセルクの3巻はありませんか？入荷しないのですか？"),
        ("Do you have manga under 800 yen?", "Do you have manga over 800 yen?"),
    ],
)
def test_align_and_the_default_check_refuse_another_object_a_negation_a_number_or_a_direction(a: str, b: str) -> None:
    assert not agree("align", a, b)
    assert not agree("lexicon+align", a, b)


@pytest.mark.parametrize(
    "a, b",
    [
        (
            "チェンソーマン1巻の値段はいくらですか？",
            "チェンソーマン1巻の価格はいくらですか？",
        ),  # a Sudachi synonym group
        ("Is delivery to Sendai available?", "Can you deliver to Sendai?"),  # derivation, a synonym set
        (
            "鬼滅の刃の全巻セットはまだ在庫がありますか？",
            "鬼滅の刃の全巻セットはまだ残っていますか？",
        ),  # a verb on one side
        ("Do you have Berserk volume 3?", "Do you have Berserk vol. 3?"),
    ],
)
def test_align_serves_paraphrases(a: str, b: str) -> None:
    assert agree("align", a, b)


def test_strict_alignment_refuses_a_verb_said_on_one_side_only() -> None:
    a, b = "鬼滅の刃の全巻セットはまだ在庫がありますか？", "鬼滅の刃の全巻セットはまだ残っていますか？"
    assert agree("align", a, b)
    assert not agree("align_strict", a, b)


def test_both_refuses_when_either_check_refuses() -> None:
    # The word list alone folds both payment methods into one label and agrees.
    a, b = "Can I pay by credit card for a box set?", "Can I pay by bank transfer for a box set?"
    assert agree("lexicon", a, b)
    assert not agree("lexicon+align", a, b)


@pytest.mark.parametrize("name", check_names())
def test_stored_signature_round_trips(name: str) -> None:
    check = get_check(name)
    a, b = "ベルセルクの3巻の電子書籍はありますか？", "ベルセルク3巻の電子書籍を買えますか？"
    stored = decode(check, encode(check, a))
    assert stored is not None
    assert stored.agrees(check.signature(b)) == check.signature(a).agrees(check.signature(b))


def test_a_signature_written_by_another_check_never_agrees() -> None:
    text = "Do you ship to Hokkaido?"
    assert decode(get_check("lexicon+align"), encode(get_check("lexicon"), text)) is None
    # Entries stored before checks were named are the word list's.
    legacy = {k: v for k, v in encode(get_check("lexicon"), text).items() if k != "check"}
    assert decode(get_check("lexicon"), legacy) is not None


def test_unknown_check_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown cache check"):
        CacheConfig(check="nope")


async def test_cache_with_the_default_check_refuses_another_payment_method() -> None:
    cache = InMemorySemanticCache(CacheConfig(threshold=0.5, dim=4))
    assert cache.config.check == "lexicon+align"
    v = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    entry = CacheEntry(answer="Yes, we accept credit cards.", intent="payment", model="haiku", products=[])
    assert await cache.store(CacheKey("Can I pay with a credit card?", "en", {}, "payment"), v, entry)
    # The same embedding: only the check stands between the two.
    assert await cache.lookup_semantic(CacheKey("Can I pay with Merpay?", "en", {}, "payment"), v) is None
    hit = await cache.lookup_semantic(CacheKey("Can I pay by credit card?", "en", {}, "payment"), v)
    assert hit is not None and hit.entry.answer == "Yes, we accept credit cards."
