"""The hand-written cache evaluation set keeps the promises of its split (bench/cache_eval/FORMAT.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cache_eval.loader import HELD_OUT_KINDS, SEEN_KINDS, load, summary
from mangaassist.orchestrator.cache.keys import key_text


def test_no_first_message_is_on_both_sides() -> None:
    sides: dict[str, set[str]] = {}
    for p in load():
        sides.setdefault(key_text(p.a), set()).add(p.split)
    assert all(len(s) == 1 for s in sides.values())


def test_held_out_kinds_are_only_on_the_test_side_and_the_size_is_as_promised() -> None:
    pairs = load()
    assert not [p for p in pairs if p.kind in HELD_OUT_KINDS and p.split != "test"]
    s = summary(pairs)
    assert isinstance(s["pairs"], int) and isinstance(s["near_misses"], int) and isinstance(s["kinds"], int)
    assert s["pairs"] >= 800 and s["near_misses"] >= 400 and s["kinds"] >= 15
    test_kinds = {p.kind for p in pairs if p.split == "test" and p.label == "miss"}
    assert test_kinds >= HELD_OUT_KINDS | SEEN_KINDS


def test_a_broken_block_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_text("Q: Is Berserk volume 3 in stock?\n~ colour: Is Berserk volume 3 red?\n")
    with pytest.raises(ValueError, match="unknown kind"):
        load(tmp_path)
    (tmp_path / "bad.txt").write_text(
        "Q: Do you sell PayPay gift cards?\n= ok\n\nQ: do you sell paypay gift cards\n= ok\n"
    )
    with pytest.raises(ValueError, match="first question repeated"):
        load(tmp_path)
    (tmp_path / "bad.txt").write_text("Q: Can I pay in euros?\n~ currency: Can I pay in yen?\n")
    (tmp_path / "bad.txt").rename(tmp_path / "calib_bad.txt")
    with pytest.raises(ValueError, match="held-out kind"):
        load(tmp_path)
