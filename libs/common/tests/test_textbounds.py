"""The bounded view of a message that regular expressions see."""

from __future__ import annotations

import re

from mangaassist.common.textbounds import MAX_RUN, MAX_SCAN_CHARS, bounded_fold, cut_runs


def longest_run(text: str, pattern: str) -> int:
    return max((len(m.group(0)) for m in re.finditer(pattern, text)), default=0)


def test_a_normal_message_is_only_folded() -> None:
    text = "ＯＮＥ ＰＩＥＣＥの１０５巻、２，０００円以下で！ in English..."
    assert cut_runs(text) == text
    assert bounded_fold(text) == "ONE PIECEの105巻、2,000円以下で! in English..."


def test_long_runs_are_cut_to_max_run() -> None:
    folded = bounded_fold("⑳" * 2000)  # NFKC: 4,000 digits
    assert folded == "20" * (MAX_RUN // 2)
    assert bounded_fold("9" * 2000 + "円以下") == "9" * MAX_RUN + "円以下"
    mixed = cut_runs("1" * 40 + ",234" + " \t" * 40 + "x" + "ー" * 50 + "y")
    assert longest_run(mixed, r"[\d,.]+") == MAX_RUN
    assert longest_run(mixed, r"\s+") == MAX_RUN
    assert longest_run(mixed, r"ー+") == MAX_RUN
    assert mixed.endswith("x" + "ー" * MAX_RUN + "y")


def test_the_folded_text_is_cut_after_folding() -> None:
    # NFKC turns this one character into 18: the cut applies to what the patterns see.
    assert len(bounded_fold("ﷺ" * 2000)) == MAX_SCAN_CHARS
    assert len(bounded_fold("a b " * 5000)) == MAX_SCAN_CHARS
