"""Shared domain vocabulary from the contract: intents, genres, demographics, languages."""

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
