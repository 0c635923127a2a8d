"""Shared domain vocabulary from the contract: intents, genres, demographics, languages."""

import json
import re
from pathlib import Path
from typing import Final

# The word lists live in vocabulary.json, next to this module: bench/conversations/validate.py,
# which writers run with a plain python3, reads the same file.
_DATA: Final = json.loads((Path(__file__).with_name("vocabulary.json")).read_text(encoding="utf-8"))

INTENTS: Final[tuple[str, ...]] = tuple(_DATA["intents"])
# Intents answered from the product catalog.
PRODUCT_INTENTS: Final = frozenset[str](_DATA["product_intents"])
GENRES: Final = frozenset[str](_DATA["genres"])
DEMOGRAPHICS: Final = frozenset[str](_DATA["demographics"])
LANGUAGES: Final = frozenset[str](_DATA["languages"])
# A series' publication status, as filtered on ("only completed ones").
STATUSES: Final = frozenset[str](_DATA["statuses"])

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
