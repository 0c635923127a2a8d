"""The shared text normaliser: width, case and spacing variants of one message compare equal."""

from __future__ import annotations

from mangaassist.common.text import fold, normalise, words, words_offsets


def test_width_and_case_variants_fold_to_the_same_text() -> None:
    assert fold("ＯＮＥ　ＰＩＥＣＥ") == fold("one\u3000piece") == "one piece"
    assert fold("ｶﾅ①") == "カナ1"


def test_normalise_collapses_every_kind_of_space() -> None:
    assert normalise("  Ｂｅｒｓｅｒｋ\u3000 ３巻\n\tある？ ") == "berserk 3巻 ある?"
    assert normalise("") == ""
    assert normalise("おすすめのファンタジー") == "おすすめのファンタジー"


def test_words_offsets_map_each_character_back() -> None:
    folded = " volleyball, i've read  haikyu!!"
    spaced = words(folded)
    assert spaced == "volleyball i ve read haikyu"
    offsets = words_offsets(folded)
    assert len(offsets) == len(spaced)
    at = spaced.index("haikyu")
    assert folded[offsets[at] : offsets[at + 5] + 1] == "haikyu"
