"""Name matching pieces: romaji folding, volume numbers, glossary, the bigram name index, RRF, the cache."""

from __future__ import annotations

import pytest

from mangaassist.common.text import normalise
from mangaassist.retrieval.cache import QueryCache
from mangaassist.retrieval.lexical import NameIndex, compact, glossary_terms, romaji, rrf, volume_number


def test_romaji_folding_meets_across_scripts() -> None:
    assert romaji("ワンピース") == romaji("Wan Pisu") == "wanpisu"
    assert romaji("ブルーロック") == romaji("Buru Rokku")
    assert compact("ＯＮＥ　ＰＩＥＣＥ!") == "onepiece"


@pytest.mark.parametrize(
    ("query", "n"),
    [
        ("呪術廻戦の0巻", 0),
        ("進撃の巨人 第３巻", 3),
        ("Blue Lock volume 20", 20),
        ("Naruto vol. 7", 7),
        ("One Piece #100", 100),
        ("Kaiju No. 8", None),
        ("20th Century Boys", None),
        ("おすすめは？", None),
    ],
)
def test_volume_numbers(query: str, n: int | None) -> None:
    assert volume_number(query) == n


def test_glossary_prefers_the_longest_term() -> None:
    assert glossary_terms("おすすめのダークファンタジーは？") == ["dark fantasy"]
    assert glossary_terms("Any sports manga?") == []
    # Kinds of story map to the catalog's tags; a short word inside a title maps to nothing.
    assert glossary_terms("フィギュアスケートの漫画ってある？") == ["figure skating"]
    assert glossary_terms("書道家の漫画") == ["calligraphy"]
    assert glossary_terms("ワンパンマンある？") == []


def test_name_index_ranks_contained_names_first() -> None:
    index = NameIndex(
        [[("ONE PIECE", 1.0), ("Wan Pisu", 0.9)], [("ワンパンマン", 1.0)], [("ブルーロック", 1.0), ("Blue Lock", 0.9)]],
        [["pirates"], ["superpowers"], ["soccer"]],
    )
    assert index.match("ワンピース")[0].row == 0
    top = index.match("Blue Lock volume 20")[0]
    assert top.row == 2 and top.score == pytest.approx(0.9)
    assert index.match("料理のおすすめ") == []
    assert index.tag_rows(["soccer", "pirates"]) == [0, 2]


def test_rrf_rewards_agreement() -> None:
    fused = rrf([[1, 2, 3], [3, 1]])
    assert max(fused, key=lambda r: fused[r]) == 1 and fused[3] > fused[2]


def test_query_cache_ttl_lru_and_invalidation() -> None:
    now = [0.0]
    cache: QueryCache[str] = QueryCache(max_entries=2, ttl_s=10, clock=lambda: now[0])
    cache.put(normalise("  ＢＥＲＳＥＲＫ  manga"), "a")
    cache.put("b", "b")
    assert cache.get("berserk manga") == "a"
    cache.put("c", "c")  # evicts the least recently used: "b" ("berserk manga" was read since)
    assert cache.get("b") is None and cache.get("c") == "c" and cache.get("berserk manga") == "a"
    now[0] = 11
    assert cache.get("c") is None
    cache.put("d", "d")
    cache.invalidate()
    assert len(cache) == 0 and cache.get("d") is None


def test_a_story_told_in_japanese_ranks_its_series_synopsis_first() -> None:
    from mangaassist.retrieval.lexical import StoryIndex, story_bigrams

    stories = StoryIndex(
        [
            "ゴムの体を持つ少年ルフィが仲間を集め、海賊王を目指して大海原を冒険する。",
            "不良の少年がタイムリープで過去に戻り、仲間を救うために暴走族の頂点を目指す。",
            "",
            "伝説の殺し屋が引退して結婚し、太った体で商店を営むが、過去の敵が襲ってくる。",
        ]
    )
    # (three stories: rare words weigh less than among the catalog's hundreds, hence the floor)
    assert stories.rank("ゴムの体の主人公が海賊王めざすやつ", min_score=1.0)[0] == 0
    assert stories.rank("不良がタイムリープするやつ", min_score=1.0) == [1]
    assert stories.rank("伝説の殺し屋が引退して太っちゃうやつだよね？", min_score=1.0)[0] == 3
    # A one-kanji word shares its kanji though its endings differ (「魚が歩いてくる」, 「歩く魚に」).
    fish = StoryIndex(
        ["沖縄で機械の脚で歩く魚に遭遇する。", "ゴムの体の少年が海賊王を目指す。", "高校生が部活で野球をする。"]
    )
    assert fish.rank("魚が歩いてくるやつ", min_score=1.0) == [0]
    # Where two words meet (ル漫 of バトル|漫画, のバ of の|バトル) is no plot word.
    seams = story_bigrams("少年のバトル漫画")
    assert "ル漫" not in seams and "のバ" not in seams and "少年" in seams
    # Grammar alone (hiragana pairs) and English share nothing.
    assert stories.rank("あれってなんだっけ", min_score=0.1) == [] and stories.rank("the pirate one") == []


def test_a_story_told_in_english_ranks_its_series_synopsis_first_and_a_kind_named_is_no_plot() -> None:
    from mangaassist.retrieval.lexical import StoryIndex, story_words

    synopses = [
        "Widowed teacher Kohei struggles to feed his little daughter, until a student invites them to cook together.",
        "A rubber-limbed boy sets out to sea with his crew, chasing a legendary treasure.",
        "A boy joins the volleyball club of his high school and meets his rival.",
        "A girl and her friends open a bakery in the town where they grew up.",
    ]
    stories = StoryIndex(synopses, story_words)
    # ("cooking" meets "cook"; "the", "his", "one" are in every story or none, and weigh nothing)
    assert stories.rank("the one with the dad and his little daughter cooking together", min_score=1.0) == [0]
    assert stories.rank("the pirate one with the rubber guy", min_score=1.0) == [1]
    assert stories.rank("the one", min_score=0.1) == []
    # 「サスペンスの漫画」: the genre word is the filter's, not a plot word of a synopsis saying it.
    ja = StoryIndex(["孤児院の子供たちが秘密を知り脱獄を計画する。", "サスペンスに満ちた連続殺人の謎を追う。"])
    assert ja.rank("孤児院の子供たちが実は…っていうサスペンスの漫画", min_score=1.0) == [0]
