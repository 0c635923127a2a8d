"""The shared text normaliser: width, case and spacing variants of one message compare equal."""

from __future__ import annotations

from mangaassist.common.text import fold, normalise, words, words_offsets
from mangaassist.common.vocabulary import kanji_counts


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


def test_volume_counts_in_kanji_are_read_as_digits() -> None:
    assert kanji_counts("無職転生の一巻") == "無職転生の1巻"
    assert kanji_counts("十巻以内、全二十五巻、第十二巻、三冊") == "10巻以内、全25巻、第12巻、3冊"
    assert kanji_counts("一番好き") == "一番好き"
