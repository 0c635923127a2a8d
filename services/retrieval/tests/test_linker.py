"""Catalog entity linking over the shipped catalog: every way customers name a series."""

from __future__ import annotations

from functools import cache

import pytest

from mangaassist.retrieval.catalog import load_series
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.linker import CatalogLinker, _mixed_spellings, fold, latin_key


@cache
def linker() -> CatalogLinker:
    return CatalogLinker.from_series(load_series(RetrievalSettings().catalog_path))


def top(text: str) -> str | None:
    links = linker().link(text)
    return links[0].series_id if links else None


@pytest.mark.parametrize(
    ("text", "series"),
    [
        ("One Piece", "one-piece"),
        ("blue lock", "blue-lock"),
        ("「ダンダダン」", "dandadan"),
        ("コナン", "case-closed"),
        ("sakamoto days", "sakamoto-days"),
        ("Do you have Kingdom?", "kingdom"),
        ("鬼滅の最新刊ある？", "demon-slayer"),
        ("ヒロアカ", "my-hero-academia"),
        ("HxH", "hunter-x-hunter"),
        ("jjk 0巻 ありますか", "jujutsu-kaisen"),
        ("ワンピース", "one-piece"),
        ("onepiece", "one-piece"),
        ("SPY×FAMILY", "spy-x-family"),
        ("chainsawman vol 3", "chainsaw-man"),
        ("dragon ball super", "dragon-ball-super"),
        ("dragon ball", "dragon-ball"),
    ],
)
def test_titles_aliases_scripts_and_spacing(text: str, series: str) -> None:
    assert top(text) == series


@pytest.mark.parametrize(
    ("text", "series"),
    [
        ("haikyuu", "haikyu"),
        ("Haikyu!!", "haikyu"),
        ("one pice", "one-piece"),  # a letter missing
        ("jujutsu kiasen", "jujutsu-kaisen"),  # two letters swapped
        ("鋼の錬金術士の1巻", "fullmetal-alchemist"),  # one wrong kanji
        ("マーマレード・ボーイってどう？", "marmalade-boy"),  # an extra long vowel across a ・
    ],
)
def test_one_edit_and_long_vowels_are_forgiven(text: str, series: str) -> None:
    link = linker().link(text)[0]
    assert link.series_id == series


@pytest.mark.parametrize(
    ("text", "series"),
    [
        ("しんげきの巨人って全部で何冊？", "attack-on-titan"),  # a kanji word typed in kana
        ("鋼のれんきんじゅつし", "fullmetal-alchemist"),
        ("にげじょうずの若君", "the-elusive-samurai"),
        ("エバンゲリオンの漫画版ってある？", "neon-genesis-evangelion"),  # ヴァ typed as バ
    ],
)
def test_a_title_part_typed_in_kana_or_a_plainer_sound_is_still_the_title(text: str, series: str) -> None:
    assert top(text) == series


def test_a_hero_called_by_a_piece_of_their_name_with_a_title() -> None:
    assert top("アラレちゃんの漫画ある？") == "dr-slump"  # the katakana given name of 則巻アラレ
    assert top("竈門くんが好き") == "demon-slayer"  # a family name with くん
    assert {link.kind for link in linker().link("高橋先生の新刊")} == {"author"}  # the author's, not a hero's
    assert top("仮面ライダーの漫画") != "one-punch-man"  # 無免ライダー's ライダー is a word
    assert top("さくらちゃんのやつ") != "urusei-yatsura"  # no typo of ラムちゃん


def test_a_katakana_word_asked_after_is_the_titles_it_opens() -> None:
    assert {link.series_id for link in linker().link("スキップってある?")} == {"skip-beat", "skip-and-loafer"}
    assert linker().link("ホラーってある？") == []  # a kind of story, not a name


def test_hiragana_grammar_read_as_romaji_names_nobody() -> None:
    # (すぎ + もっと reads "sugimoto", Golden Kamuy's hero)
    assert linker().link("長すぎ😂 もっと短くて完結してる少女漫画のラブコメない?") == []


def test_a_reading_that_lines_up_two_ways_makes_no_spelling() -> None:
    assert _mixed_spellings("彼氏彼女の事情", "かれしかのじょのじじょう") == []
    assert _mixed_spellings("進撃の巨人", "しんげきのきょじん") == ["しんげきの巨人", "進撃のきょじん"]


def test_a_typo_match_says_so() -> None:
    link = linker().link("one pice")[0]
    assert link.fuzzy and link.score < linker().link("one piece")[0].score


def test_an_author_links_every_series_of_theirs() -> None:
    links = linker().link("anything by Naoki Urasawa?")
    assert {link.kind for link in links} == {"author"}
    assert {"monster", "20th-century-boys", "pluto"} <= set(links[0].author_series)


def test_an_ordinary_word_is_no_title_unless_meant_as_one() -> None:
    assert top("I want a real horror story") is None
    assert top("Real") == "real"
    assert top("real by inoue, is it finished") == "real"


def test_a_short_plain_word_title_beside_shop_words_is_a_title() -> None:
    assert top("nana price") == "nana" and top("pluto も english で") == "pluto"
    assert top("what about pluto") == "pluto"
    assert top("is that real") is None and top("the sunny weather") is None


def test_ordinary_words_are_no_misspelt_or_partial_titles() -> None:
    # 「かかり」 is one edit from the alias かのかり; "original" is a word of Takopi's Original Sin.
    assert linker().link("送料っていくらかかります？") == []
    # ("the original" names only the series a sequel talked about goes on from: a "sequel" link)
    assert [link.kind for link in linker().link("actually just the original, vol 1 in english")] == ["sequel"]
    assert top("ちはやぶる") == "chihayafuru"  # a longer kana name still forgives one edit


def test_a_japanese_title_cut_at_its_no_names_it_unless_the_cut_is_a_word() -> None:
    assert top("斉木楠雄 の English version って何巻まで？") == "the-disastrous-life-of-saiki-k"
    assert top("ベルサイユ好きな母に") == "the-rose-of-versailles"
    for text in ("テニス漫画ある？", "キッチンが出てくる漫画", "魔法使いの話"):
        assert all(link.kind != "alias" or "の" not in link.name for link in linker().link(text)), text


def test_words_inside_longer_words_do_not_link() -> None:
    assert top("she loves cats") is None
    assert top("beach manga") is None


def test_linking_explains_what_matched_and_is_deterministic() -> None:
    first = linker().link("鬼滅ある？")
    assert first == linker().link("鬼滅ある？")
    assert (first[0].kind, first[0].name) == ("alias", "鬼滅")


def test_a_long_message_is_linked_on_its_first_part() -> None:
    assert linker().link("⑳" * 3000) == []
    assert top("One Piece " + "x" * 5000) == "one-piece"


def test_linking_is_bounded_on_the_worst_inputs() -> None:
    """Against ordinary text of the same length, as the intent service's text-bounds tests do."""
    from mangaassist.devtools.cpu import assert_no_worse_than_ordinary

    worst = [
        "⑳" * 4000,
        "9" * 4000,
        "no " * 1300,
        "one piece " * 400,
        "ワンピース" * 800,
        "a" * 4000,
        "aa " * 1300,
        "鬼滅の刃" * 1000,
    ]
    for text in worst:
        assert_no_worse_than_ordinary(linker().link, text, runs=3)


def test_the_works_by_a_series_authors_include_every_author_of_it() -> None:
    works = linker().works_by_authors_of(["death-note"])
    assert {"death-note", "bakuman", "hikaru-no-go"} <= works
    assert linker().works_by_authors_of(["no-such-series"]) == frozenset()


@pytest.mark.parametrize(
    ("text", "series"),
    [
        ("アオなんとかっていう恋愛漫画、タイトル忘れちゃった", {"blue-box", "blue-spring-ride"}),
        ("あのアオなんとかってやつ", {"blue-box", "blue-spring-ride"}),
        # kana through its reading finds the romaji title too (光が死んだ夏: Hikaru ga Shinda Natsu)
        ("タイトルに「ヒカル」が入ってる漫画を探してます", {"hikaru-no-go", "the-summer-hikaru-died"}),
        (
            "blue something, forgot the name",
            {"blue-box", "blue-lock", "blue-period", "blue-exorcist", "blue-spring-ride"},
        ),
        ("the title has moon in it", {"sailor-moon", "full-moon-wo-sagashite"}),
        ("Dr.なんとかってやつ、石になった世界で科学するの", {"dr-slump", "dr-stone"}),  # a two-letter piece
        ("スキップってやつ探してます", {"skip-beat", "skip-and-loafer"}),
        # a piece said to be incomplete wins over a name it also is (デデデ is an alias of one)
        (
            "デデデってタイトルに入ってる漫画あったと思うんだけど",
            {"dead-dead-demons-dededede-destruction", "kirby-manga-mania"},
        ),
        ("友達にすすめられた「ブルーなんとか」って漫画探してます", {"blue-lock", "blue-period"}),
        # a few words of a romaji title, and a word before "manga" said to be part of the title
        ("do you carry Ao no... something? I forget the rest", {"blue-box", "blue-exorcist"}),
        ("do you have the Fire manga? forgot the rest of the title", {"fire-force", "fire-punch"}),
        # a piece ending its clause with "something", no "forgot" said; the piece said again in
        # English is no kind of story that chooses one of them
        (
            "do you have the tokyo manga? tokyo something, my coworker keeps talking about it",
            {"tokyo-ghoul", "tokyo-revengers", "tokyo-tarareba-girls"},
        ),
        (
            "東京なんとかって漫画 名前わすれた… the tokyo one",
            {"tokyo-ghoul", "tokyo-revengers", "tokyo-tarareba-girls"},
        ),
        ("hikaru nantoka tte manga", {"hikaru-no-go", "the-summer-hikaru-died"}),  # なんとか in romaji
        # a lone word quoted as what someone asked for
        ("my nephew's wishlist just says 'Hikaru' lol. do you have that?", {"hikaru-no-go", "the-summer-hikaru-died"}),
    ],
)
def test_a_remembered_piece_of_a_title_offers_every_series_it_fits(text: str, series: set[str]) -> None:
    links = linker().link(text)
    assert {link.series_id for link in links} == series and {link.kind for link in links} == {"partial"}
    assert len({(link.start, link.end, link.score) for link in links}) == 1  # one piece, equally fitting


def test_something_without_a_forgotten_title_is_no_piece_of_one() -> None:
    assert linker().link("I want something good") == []
    assert linker().link("read something fun") == []
    # (a kind of story is no piece of a title, "something" ending the clause or not)
    assert linker().link("romance something?") == [] and linker().link("got anything isekai something, cheap") == []


def test_a_piece_beside_an_authors_name_is_one_of_their_works() -> None:
    links = linker().link("what's that other fujimoto one, fire something")
    assert [(link.series_id, link.kind) for link in links] == [("fire-punch", "partial")]


def test_a_genre_word_is_no_misspelt_title() -> None:
    # ラブコメ (rom-com) is one edit from ラブ★コン; the title itself still links.
    assert linker().link("王道の少女漫画ラブコメで完結してて") == []
    assert [link.series_id for link in linker().link("ラブコンある？")] == ["love-com"]


def test_kinds_of_story_find_the_series_tagged_with_them() -> None:
    ruled_out = linker().series_of_kinds(["basketball", "volleyball"])
    assert {"slam-dunk", "kurokos-basketball", "haikyu"} <= ruled_out and "hajime-no-ippo" not in ruled_out
    assert "food-wars" in linker().series_of_kinds(["cooking battle"])
    assert "slam-dunk" in linker().series_of_kinds(["バスケ"])  # through the glossary
    assert linker().series_of_kinds(["x" * 5000, ""]) == frozenset()


def test_a_plain_word_title_beside_another_title_is_a_title() -> None:
    assert {link.series_id for link in linker().link("which is longer, naruto or bleach?")} == {"naruto", "bleach"}
    assert not linker().link("i need to bleach my shirt")


def test_a_long_title_cut_short_and_story_words_are_no_misspelt_names() -> None:
    assert top("and how long is Dead Dead Demons") == "dead-dead-demons-dededede-destruction"
    # "samurai" is a kind of story, not a typo of "Samurai X" or of the author Sakurai.
    assert not linker().link("buying for my dad, he's 60 and into samurai stuff")
    assert not linker().link("前の巻も please")
    assert not linker().link("and the japanese one, vol 26")  # no author ONE
    assert top("ONE の作品") in ("one-punch-man", "mob-psycho-100")


def test_a_number_is_no_misspelt_name() -> None:
    assert not linker().link("and 5?")  # not the author Ando


def test_a_japanese_authors_family_name_with_an_honorific_names_their_works() -> None:
    assert top("尾田先生の漫画の最新刊") == "one-piece"
    assert {link.series_id for link in linker().link("浦沢さんの作品")} >= {"monster", "pluto"}
    # 「奥さん」 is a wife, 「原さん」 no typo of 篠原さん: family names are never fuzzy or bare
    assert linker().link("奥さんにプレゼント") == [] and linker().link("原さん") == []


def test_a_plain_word_title_after_and_is_the_same_question_of_another_series() -> None:
    assert top("and bleach?") == "bleach" and top("also monster") == "monster"
    assert linker().link("and english?") == [] and linker().link("and cheaper?") == []


def test_a_plain_word_title_chosen_with_then_is_that_series() -> None:
    assert top("ok bleach then, english vol 1 please") == "bleach" and top("go with nana then") == "nana"
    assert linker().link("ok then real talk") == []


def test_a_title_that_is_also_a_kind_of_story_is_not_linked_when_used_as_one() -> None:
    assert linker().link("キャンプ以外でゆるい日常系ってある？") == []
    assert top("日常の最新刊") == "nichijou"


def test_a_japanese_word_asked_for_last_is_a_piece_of_every_title_that_has_it() -> None:
    links = linker().link("do you have hikaru")
    assert {link.series_id for link in links} == {"hikaru-no-go", "the-summer-hikaru-died"}
    assert linker().link("do you have black") == []


def test_one_by_one_names_no_author_but_by_one_does() -> None:
    assert linker().link("is there a box set or do i buy them one by one") == []
    assert {link.series_id for link in linker().link("manga by ONE")} >= {"one-punch-man", "mob-psycho-100"}


def test_a_misspelt_japanese_name_keeps_its_first_character() -> None:
    assert top("アンパンマンの漫画ありますか") is None
    assert top("鋼の錬金術士") == "fullmetal-alchemist"


def test_a_name_quoted_as_a_manga_is_looked_for_as_written() -> None:
    assert top("甥が『ヒカル』って漫画が欲しいらしいんですが") == "hikaru-no-go"
    assert {link.series_id for link in linker().link("『アオ』って漫画")} == {"blue-box", "blue-spring-ride"}
    assert linker().link("ホラーって漫画") == [] and linker().link("『ハリー』って漫画") == []


def test_a_title_word_opening_a_question_is_the_title() -> None:
    assert top("erased, how many volumes?") == "erased"
    assert top("erased sounds good, is it in english?") == "erased"


def test_titles_listed_together_are_all_linked_and_no_typo_spans_the_list() -> None:
    ids = [link.series_id for link in linker().link("She mentioned Your Lie in April, K-On! and Nana.")]
    assert sorted(ids) == ["k-on", "nana", "your-lie-in-april"]
    assert {link.series_id for link in linker().link("K-On! and Nana")} == {"k-on", "nana"}


def test_a_persons_name_forgives_one_edit_but_not_in_its_first_letter() -> None:
    assert linker().link("Chiikawaありますか？") == []  # not Ichikawa, not Hikawa
    assert "one-piece" in {link.series_id for link in linker().link("something by eiichiro odda")}


def test_a_misspelt_long_title_around_a_short_exact_name_of_it_still_wins() -> None:
    (link,) = linker().link("Wotakoi: Love Is Hard for Oeaku")
    assert (link.series_id, link.name) == ("wotakoi", "Wotakoi: Love Is Hard for Otaku")


def test_kana_in_the_other_script_and_plain_word_titles_read_or_asked_after() -> None:
    assert top("はがれんって何巻で完結？") == "fullmetal-alchemist"  # alias ハガレン, typed in hiragana
    assert top("ダンジョンメシ全巻ほしい") == "delicious-in-dungeon"  # alias だんじょんめし, in katakana
    assert top("thanks! something to read while i wait, i loved erased") == "erased"
    assert top("and sunny, how many volumes?") == "sunny"
    assert top("it was sunny today, any beach manga?") is None


def test_a_kind_of_story_is_no_piece_of_a_title_and_a_surname_is_not_spelt_across_words() -> None:
    assert top("other samurai manga?") is None
    assert top("the samurai manga") == "the-elusive-samurai"
    assert top("oh no. something actually cute and adventurous then") is None
    assert top("by oono") == "the-way-of-the-househusband"


def test_an_ampersand_for_and_and_a_plain_word_title_chosen_after_ok() -> None:
    assert top("lone wolf & cub") == "lone-wolf-and-cub"
    assert top("ok bleach, how much per volume") == "bleach"
    assert top("ok so what now") is None


def test_a_contractions_tail_starts_no_misspelt_title() -> None:
    assert linker().link("ok something else that's funny with college-age characters") == []  # "s funny" ≠ Sunny
    assert linker().link("something that’s funny") == []
    assert top("it's narutoo, right?") == "naruto"  # a typo after a contraction is still forgiven


def test_an_authors_own_works_come_before_those_credited_after_another() -> None:
    (tezuka,) = [link for link in linker().link("anything by osamu tezuka?") if link.kind == "author"][:1]
    assert tezuka.author_series[0] == "black-jack"  # Pluto credits Urasawa first


def test_a_plain_word_title_asked_for_last_is_the_title() -> None:
    assert top("nvm. do you sell nana") == "nana"
    assert top("do you have nana?") == "nana"
    assert linker().link("do you have more") == []


def test_a_well_known_title_we_lack_is_linked_as_absent_and_a_longer_one_beats_a_title_inside_it() -> None:
    absent = [
        {"title_en": "Tokyo Mew Mew", "title_ja": "東京ミュウミュウ", "title_romaji": "Tokyo Myu Myu", "aliases": []},
        {"title_en": "Monster Musume", "title_ja": "モンスター娘のいる日常", "title_romaji": "", "aliases": []},
    ]
    with_absent = CatalogLinker.from_series(load_series(RetrievalSettings().catalog_path), absent)
    (mew,) = with_absent.link("tokyo mew mew?")
    assert (mew.kind, mew.series_id) == ("absent", "absent:tokyomewmew")
    assert [(link.kind, link.series_id) for link in with_absent.link("do you have monster musume")] == [
        ("absent", "absent:monstermusume")
    ]
    assert [link.series_id for link in with_absent.link("do you have monster")] == ["monster"]


def test_the_shipped_list_of_titles_we_lack_names_none_we_carry() -> None:
    settings = RetrievalSettings()
    carried = load_series(settings.catalog_path)
    absent = load_series(settings.not_carried_path)
    names = {
        latin_key(fold(n))
        for s in carried
        for n in (s["title_en"], s["title_ja"], s["title_romaji"], *s["aliases"])
        if n
    }
    assert len(absent) >= 300
    for record in absent:
        for n in (record["title_en"], record["title_ja"], record["title_romaji"], *record["aliases"]):
            assert not n or latin_key(fold(n)) not in names, n
    shop = CatalogLinker.from_series(carried, absent)
    assert [link.kind for link in shop.link("ちなみに弱虫ペダル is available?")] == ["absent"]
    assert [link.series_id for link in shop.link("naruto full set price")] == ["naruto"]


def test_a_hero_names_their_series_exactly_never_as_a_typo() -> None:
    for text, want in (
        ("do u have the pirate one, with luffy", "one-piece"),
        ("アーニャが出てるやつ", "spy-x-family"),
        ("猫猫が主人公の漫画ってありますか", "the-apothecary-diaries"),
        ("back to Tanjiro - vol 23 in english", "demon-slayer"),
    ):
        links = linker().link(text)
        assert [(link.series_id, link.kind) for link in links] == [(want, "character")], text
    assert linker().link("something fluffy and cute") == []  # one edit from Luffy, and no name


def test_a_japanese_first_word_both_titles_keep_names_the_series() -> None:
    assert [link.series_id for link in linker().link("ok go back to kaguya, english price?")] == [
        "kaguya-sama-love-is-war"
    ]
    # (not a word several titles hold: 'Hikaru' stays a piece of two)
    assert {link.series_id for link in linker().link("just says 'Hikaru'")} == {
        "hikaru-no-go",
        "the-summer-hikaru-died",
    }


def test_a_heros_given_or_family_name_alone_names_the_series_when_only_theirs() -> None:
    assert [link.series_id for link in linker().link("the one with Anya the telepath kid")] == ["spy-x-family"]
    assert [link.series_id for link in linker().link("is Itadori in the new volume?")] == ["jujutsu-kaisen"]
    # Gojo is a hero's name in two series; "more" is no "Moore" (Case Closed) once folded.
    assert linker().link("gojo sensei is the best") == []
    assert linker().link("do you have more") == []


def test_a_dash_typed_for_the_long_vowel_mark_is_read_as_one() -> None:
    assert {link.series_id for link in linker().link("ロ-ファーのほう")} == {"skip-and-loafer"}


def test_a_katakana_word_used_as_a_name_links_every_title_it_opens() -> None:
    for text, want in (
        ("スキップの新刊いつ？", {"skip-beat", "skip-and-loafer"}),
        ("ブルーの最新刊ってもう出てる？", {"blue-lock", "blue-period"}),
        ("スキップの新しい巻って出てます？", {"skip-beat", "skip-and-loafer"}),
    ):
        links = linker().link(text)
        assert {link.series_id for link in links} == want and {link.kind for link in links} == {"partial"}
    # A kind of story is no name: 「ホラーのやつ」 opens no title.
    assert linker().link("ホラーのやつ") == []


def test_the_kind_one_describes_which_and_names_no_title() -> None:
    # "samurai" is a word of The Elusive Samurai and a kind of story (Vagabond's tag).
    assert linker().link("ok going back to the samurai one, first volume in japanese please") == []
    assert [link.series_id for link in linker().link("samurai vol 1")] == ["the-elusive-samurai"]


def test_a_name_spelt_with_function_words_only_is_that_name_when_written_or_asked_as_one() -> None:
    settings = RetrievalSettings()
    with_absent = CatalogLinker.from_series(load_series(settings.catalog_path), load_series(settings.not_carried_path))
    for text in ("english edition all out?", "are they all out in english"):
        assert with_absent.link(text) == [], text
    for text in ("do you have all out", "is All Out any good", "All Out!! ある？"):
        assert [link.series_id for link in with_absent.link(text)] == ["absent:allot"], text


def test_a_short_piece_said_as_a_name_links_the_title_it_opens_or_ends() -> None:
    for text, want in (
        ("ちなみにアビス自体は何巻まで出てる？", "made-in-abyss"),  # the end of メイドインアビス
        ("その不滅のやつ、完結してる？", "to-your-eternity"),  # the opening kanji of 不滅のあなたへ
        ("さっきのモブのほう全巻で", "mob-psycho-100"),  # two katakana opening モブサイコ100, chosen
        ("ぼっちの方の最新刊は何巻？", "bocchi-the-rock"),  # its nickname, an alias
        ("ぼっちちゃん 最新刊", "bocchi-the-rock"),  # the heroine's
        ("アビスって怖い？グロい？", "made-in-abyss"),  # nicknames fans use, aliases
        ("ヴィンサガの英語版ってハードカバー？", "vinland-saga"),
        ("tate no yuusha wa?", "the-rising-of-the-shield-hero"),
    ):
        assert [link.series_id for link in linker().link(text)] == [want], text
    # ... but a word of the sentence is none: a time, a kind, a hiragana word inside another.
    for text in (
        "先週のやつ届いた？",
        "恋愛のやつ",
        "一人ぼっちの主人公の話",
        "ぼっちで読める漫画",
        "ひとりぼっちの話",
    ):
        assert linker().link(text) == [], text


def test_a_piece_said_beside_the_kind_of_story_keeps_the_titles_of_that_kind() -> None:
    assert [link.series_id for link in linker().link("Blueなんとかってやつ、サッカーの漫画")] == ["blue-lock"]
    # Both are love stories: still both, to be asked back.
    both = {link.series_id for link in linker().link("アオなんとかっていう恋愛漫画")}
    assert both == {"blue-box", "blue-spring-ride"}
    # A kind the story tells, though no tag says it: Witch Watch's synopsis has 「ニコの魔法」.
    witches = {link.series_id for link in linker().link("witchってつく漫画なかったっけ？魔法のやつ")}
    assert witches == {"witch-hat-atelier", "witch-watch"}


def test_the_word_a_sequel_adds_is_linked_relative_to_its_series() -> None:
    for text in ("超のほうも", "超は完結してる？", "what about super?"):
        [link] = linker().link(text)
        assert (link.series_id, link.kind, link.relative_to) == ("dragon-ball-super", "sequel", ("dragon-ball",))
    assert linker().link("超面白い漫画") == [] and linker().link("super cheap ones please") == []
    # The sequel itself asked for: every series that goes on from another (kept for the one talked about).
    sequels = [link for link in linker().link("ドラゴンボールの続きのやつってある？") if link.kind == "sequel"]
    assert ("dragon-ball-super", ("dragon-ball",)) in {(link.series_id, link.relative_to) for link in sequels}
    assert linker().link("続きは何巻？") == []  # the next volume of the one talked about
    # The original, relative to the sequel.
    [original] = linker().link("無印の方は何巻？")
    assert (original.series_id, original.kind, original.relative_to) == (
        "dragon-ball",
        "sequel",
        ("dragon-ball-super",),
    )
    # The whole title is the title.
    assert [(link.series_id, link.kind) for link in linker().link("ドラゴンボール超ある？")] == [
        ("dragon-ball-super", "title")
    ]


def test_a_word_title_inside_a_compound_is_the_word() -> None:
    # 「モンスター料理」 is monster cooking (Delicious in Dungeon), not Urasawa's Monster.
    assert linker().link("ダンジョンでモンスター料理して食べる漫画あったよね") == []
    assert top("モンスターの1巻") == "monster" and top("浦沢直樹のモンスター") == "monster"


def test_limits_below_a_series_come_from_its_edition() -> None:
    frieren = next(s for s in load_series(RetrievalSettings().catalog_path) if s["series_id"] == "frieren")
    assert linker().below(["frieren"], None, 0) == frieren["volumes_ja"] - 1
    assert linker().below(["frieren"], "en", 1) == frieren["price_en_jpy"] - 1
    assert linker().below(["no-such-series"], "ja", 0) is None


def test_a_romaji_particle_and_a_word_are_no_misspelt_name() -> None:
    assert linker().link("kanketsu shiteru no dake misete") == []  # not のだめ ("nodame")
    assert [link.series_id for link in linker().link("no dame cantabile aru?")] == ["nodame-cantabile"]


def test_a_word_of_several_titles_asked_for_as_the_x_one_offers_them() -> None:
    # ("the samurai one" after a list describes which one: a kind, no piece, unless asked for)
    asked = {link.series_id for link in linker().link("do you have the tokyo one")}
    assert asked == {"tokyo-ghoul", "tokyo-revengers", "tokyo-tarareba-girls"}
    volume = {link.series_id for link in linker().link("tokyo manga vol 1")}
    assert volume == {"tokyo-ghoul", "tokyo-revengers", "tokyo-tarareba-girls"}
    assert linker().link("horror manga vol 1") == []  # (a kind, whatever follows)


def test_the_one_who_drew_is_an_author_said_in_lower_case() -> None:
    drew = {(link.series_id, link.kind) for link in linker().link("what else did inoue draw")}
    assert drew == {("slam-dunk", "author"), ("vagabond", "author"), ("real", "author")}
    assert linker().link("did you draw this") == []
