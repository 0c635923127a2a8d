"""The cache's text work (key normalisation, guard signature, self-containment) is bounded.

Before the bounds, the guard signature of 「⑳」 × 2,000 (a 6 KB frame; 4,000 digits after
NFKC) took 1.5 s of the event loop and 2,000 nines 0.36 s. Each is timed against ordinary text
of the same length (``mangaassist.devtools.cpu``; measured: at most 5x; the bound is 10x).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mangaassist.devtools.cpu import assert_no_worse_than_ordinary
from mangaassist.orchestrator.cache import is_self_contained, signature
from mangaassist.orchestrator.cache.keys import key_text

MAX_CHARS = 2_000  # the orchestrator's limit on a message


def repeat(unit: str, tail: str = "") -> str:
    return (unit * (MAX_CHARS // len(unit) + 1))[: MAX_CHARS - len(tail)] + tail


WORST = {
    "circled twenty (NFKC: 2 digits each)": "⑳" * MAX_CHARS,
    "ascii nines": "9" * MAX_CHARS,
    "multipliers": repeat("9千"),
    "kanji numerals before counters": repeat("万巻"),
    "grouped digits": repeat("1,"),
    "trailing punctuation": "!" * (MAX_CHARS - 1) + "x",
    "mixed trailing punctuation": repeat("!.", "x"),
    "katakana run": repeat("アイ"),
    "latin words": repeat("hello world "),
    "NFKC x18": "ﷺ" * MAX_CHARS,
    "whitespace": repeat(" \t\n"),
}


@pytest.mark.parametrize("name", list(WORST))
@pytest.mark.parametrize(
    "fn", [signature.__wrapped__, is_self_contained, key_text], ids=["signature", "self_contained", "key_text"]
)
def test_cache_text_work_is_bounded_on_the_worst_inputs(fn: Callable[[str], object], name: str) -> None:
    assert_no_worse_than_ordinary(fn, WORST[name])


def test_messages_that_differ_only_past_the_bounded_view_do_not_agree() -> None:
    # The signature looks at a bounded view; what it cut still has to agree (as a digest).
    a, b = "Berserk volume " + "1" * 40, "Berserk volume " + "1" * 39 + "2"
    assert signature(a) != signature(b)
    assert signature(a) == signature(a + " ")
    words_a = " ".join(f"w{i}" for i in range(600))
    assert signature(words_a) != signature(words_a + " extra")
