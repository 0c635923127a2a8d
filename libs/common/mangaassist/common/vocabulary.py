"""Shared domain vocabulary from the contract: intents, genres, demographics, languages."""

import re
from typing import Final

INTENTS: Final[tuple[str, ...]] = (
    "product_recommendation",
    "product_search",
    "product_question",
    "order_status",
    "return_refund",
    "shipping_info",
    "payment",
    "account",
    "greeting",
    "escalation",
    "out_of_scope",
)
# Intents answered from the product catalog.
PRODUCT_INTENTS: Final = frozenset({"product_recommendation", "product_search", "product_question"})

GENRES: Final = frozenset(
    {
        "action",
        "adventure",
        "comedy",
        "drama",
        "fantasy",
        "horror",
        "mystery",
        "romance",
        "sci-fi",
        "slice-of-life",
        "sports",
        "supernatural",
        "historical",
        "psychological",
        "thriller",
        "mecha",
        "music",
        "cooking",
        "school",
        "isekai",
    }
)
DEMOGRAPHICS: Final = frozenset({"shonen", "seinen", "shojo", "josei", "kodomo"})
LANGUAGES: Final = frozenset({"ja", "en"})
# A series' publication status, as filtered on ("only completed ones").
STATUSES: Final = frozenset({"completed", "ongoing", "hiatus"})

# English cardinal number words and their values ("ten volumes max", "one or two volumes").
EN_NUMBER_WORDS: Final[dict[str, int]] = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100}

_KANJI_UNITS: Final[dict[str, int]] = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
# A count of volumes or books written in kanji (「一巻」「十二巻」「三冊」「第二十巻」), up to 99.
_KANJI_COUNT = re.compile(r"([一二三四五六七八九]?十[一二三四五六七八九]?|[一二三四五六七八九])(?=\s*(?:巻|冊))")


def kanji_counts(text: str) -> str:
    """``text`` with volume counts written in kanji put in digits (「無職転生の一巻」 → 「無職転生の1巻」).
    The string changes length: use it to read numbers, not to map positions back."""

    def value(m: re.Match[str]) -> str:
        word = m.group(1)
        if "十" not in word:
            return str(_KANJI_UNITS[word])
        tens, _, ones = word.partition("十")
        return str(_KANJI_UNITS.get(tens, 1) * 10 + _KANJI_UNITS.get(ones, 0))

    return _KANJI_COUNT.sub(value, text)
