"""Entity extraction on Japanese, English and mixed messages."""

from __future__ import annotations

import pytest

from mangaassist.common.vocabulary import GENRES
from mangaassist.intent.entities import extract, genres_in


@pytest.mark.parametrize(
    ("text", "order_id"),
    [
        ("注文 123-4567890-1234567 はいつ届きますか", "123-4567890-1234567"),
        ("Where is MA-2024-00123?", "MA-2024-00123"),
        ("#ma-2024-04401 not here yet", "MA-2024-04401"),
        ("注文No.1029384756 まだ？", "1029384756"),
        ("order number: A1B2C3D4 please check", "A1B2C3D4"),
        ("２０２４０３１５－７７８１の状況", "20240315-7781"),
    ],
)
def test_order_ids(text: str, order_id: str) -> None:
    assert extract(text).order_ids == [order_id]


def test_order_id_digits_are_not_volumes_or_prices() -> None:
    found = extract("注文 123-4567890-1234567 の状況")
    assert found.volumes == [] and found.max_price_jpy is None


@pytest.mark.parametrize(
    ("text", "max_price", "min_price"),
    [
        ("2000円以下の恋愛マンガ", 2000, None),
        # "Under" and "cheaper than" exclude the amount itself; 「以下」 and 「まで」 include it.
        ("Any sports manga under ¥1,500?", 1499, None),
        ("予算3千円でおすすめは？", 3000, None),
        ("１５００円まででお願いします", 1500, None),
        ("cheaper than 800 yen", 799, None),
        ("I want something over ¥500 and under 2000 yen", 1999, 501),
        ("at most 800 yen", 800, None),
        ("under 10 volumes", None, None),
        ("1万円以内のセット", 10000, None),
        ("おすすめのダークファンタジーは？", None, None),
    ],
)
def test_price_limits(text: str, max_price: int | None, min_price: int | None) -> None:
    found = extract(text)
    assert (found.max_price_jpy, found.min_price_jpy) == (max_price, min_price)


@pytest.mark.parametrize(
    ("text", "titles", "volumes"),
    [
        ("ワンピースの105巻ある？", ["ワンピース"], [105]),
        ("One Pieceの105巻ある？", ["One Piece"], [105]),
        ("Chainsaw Man vol. 12 in stock?", ["Chainsaw Man"], [12]),
        ("「葬送のフリーレン」の第3巻", ["葬送のフリーレン"], [3]),
        ("something like Berserk but less grim", ["Berserk"], []),
        ("呪術廻戦みたいな漫画ある？", ["呪術廻戦"], []),
        ("Do you have Vinland Saga in English?", ["Vinland Saga"], []),
    ],
)
def test_titles_and_volumes(text: str, titles: list[str], volumes: list[int]) -> None:
    found = extract(text)
    assert found.titles == titles and found.volumes == volumes


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("英語版はありますか", "en"),
        ("Do you have it in English?", "en"),
        ("日本語版が欲しい", "ja"),
        ("I'd like the Japanese edition", "ja"),
        ("おすすめは？", None),
    ],
)
def test_edition_language(text: str, language: str | None) -> None:
    assert extract(text).language == language


def test_genres_map_to_the_contract_vocabulary_and_exclusions_are_not_filters() -> None:
    found = extract("2000円以下で英語版のホラー以外のファンタジーを")
    assert found.genres == ["fantasy"] and found.excluded_genres == ["horror"]
    assert (found.max_price_jpy, found.language) == (2000, "en")
    english = extract("a funny sports manga, but not romance")
    assert set(english.genres) == {"sports", "comedy"} and english.excluded_genres == ["romance"]
    assert set(extract("ラブコメとSFとミステリー").genres) == {"romance", "sci-fi", "mystery"}
    for text in ("異世界もの", "cooking manga", "mecha"):
        assert set(extract(text).genres) <= GENRES and extract(text).genres


def test_nothing_found_in_small_talk() -> None:
    found = extract("hello! how are you?")
    assert found.order_ids == [] and found.titles == [] and found.genres == [] and found.max_price_jpy is None


@pytest.mark.parametrize(
    ("text", "in_stock"), [("在庫のある恋愛マンガ", True), ("horror manga in stock", True), ("hello", None)]
)
def test_in_stock(text: str, in_stock: bool | None) -> None:
    assert extract(text).in_stock is in_stock


@pytest.mark.parametrize(
    ("text", "genres", "excluded"),
    [
        ("boxing manga", ["sports"], []),
        ("フィギュアスケートの漫画ってある？", ["sports"], []),
        ("cyberpunk manga", ["sci-fi"], []),
        ("shojo with vampires or demons", ["supernatural"], []),
        ("anything else about history a teen could read", ["historical"], []),
        ("other comedies about adults, not school stuff", ["comedy"], ["school"]),
        ("妖怪が出てくる優しい感じの話、怖いのはいやです", ["supernatural"], ["horror"]),
        # A narrower kind, negated, rules out that kind, not its genre ("cooking battle" is one phrase).
        ("something chill, not those cooking battle ones", [], []),
        ("sports, but no basketball or volleyball", ["sports"], []),
        ("I love One Piece", [], []),
        # However the dislike is put.
        ("癒される漫画ないかな。ホラーとかは無理", ["slice-of-life"], ["horror"]),
        ("恋愛ものは勘弁", [], ["romance"]),
        ("anything but romance please", [], ["romance"]),
        ("tired of isekai, something else", [], ["isekai"]),
        ("ホラーも読みたい", ["horror"], []),
        ("ロマンス漫画のおすすめある？", ["romance"], []),
        ("同じく明治時代が舞台の作品で", ["historical"], []),
        ("ホラーっぽすぎないのがいいです", [], ["horror"]),
    ],
)
def test_kinds_of_story_name_their_genre(text: str, genres: list[str], excluded: list[str]) -> None:
    found = extract(text)
    assert (found.genres, found.excluded_genres) == (genres, excluded)


@pytest.mark.parametrize(
    ("text", "volumes", "max_price"),
    [
        ("きめつのやいばの1かん", [1], None),
        ("shingeki no kyojin 1kan aru?", [1], None),
        ("and how much is the first english volume", [1], None),
        ("1冊500円台までで", [], 599),
        ("予算は1冊600円くらいまでで", [], 600),
    ],
)
def test_volumes_and_prices_however_typed(text: str, volumes: list[int], max_price: int | None) -> None:
    found = extract(text)
    assert (found.volumes, found.max_price_jpy) == (volumes, max_price)


@pytest.mark.parametrize(
    ("text", "ruled_out"),
    [
        ("あと、SFっぽい設定のものは苦手なので避けたいです。", "sci-fi"),
        ("恋愛ものはまだ早いかなと思うので、それ以外で", "romance"),
        ("学園ものはもう卒業しました笑", "school"),
        ("あとグロすぎるのはナシで", "horror"),
    ],
)
def test_japanese_ways_of_ruling_a_genre_out(text: str, ruled_out: str) -> None:
    genres, excluded, _ = genres_in(text)
    assert ruled_out in excluded and ruled_out not in genres


def test_a_genre_with_a_remark_about_length_is_still_asked_for() -> None:
    assert genres_in("ファンタジーの長いのはちょっと") == (["fantasy"], [], [])


def test_a_price_cap_said_after_the_amount_or_as_nothing_over_is_inclusive() -> None:
    assert extract("English edition, 2000 yen or less per book").max_price_jpy == 2000
    assert extract("and nothing over 700 yen a volume").max_price_jpy == 700
    assert extract("anything similar but cheaper, 600 yen a volume or less?").max_price_jpy == 600
    assert extract("cheaper cyberpunk stuff? 800 yen per volume or less").max_price_jpy == 800
    assert extract("under 700 yen").max_price_jpy == 699


def test_a_budget_caps_the_price_and_a_volume_total_names_no_volume() -> None:
    assert extract("I have like 3000 yen, want a complete series thats short").max_price_jpy == 3000
    assert extract("i have 3 books").max_price_jpy is None
    assert extract("全27巻で完結？").volumes == []
    assert extract("27巻ください").volumes == [27]
    assert "romance" in extract("rom com recs pls").genres
    assert "sci-fi" in extract("post apocalyptic manga pls").genres
    assert "school" in extract("学生ものじゃなくて").excluded_genres or "school" in extract("学生もの").genres
    assert extract("小学生の息子にプレゼントしたい").young_reader and not extract("my 15 yo son").young_reader


def test_a_narrower_kind_ruled_out_keeps_its_genre() -> None:
    space = extract("space manga, realistic, no aliens")
    assert (space.genres, space.excluded_genres, space.excluded_kinds) == (["sci-fi"], [], ["aliens"])
    assert extract("horror but no zombies").genres == ["horror"]
    assert extract("zombie manga?").genres == ["horror"]


def test_narrower_kinds_ruled_out_keep_their_genre() -> None:
    band = extract("about a band, not classical piano stuff")
    assert "music" not in band.excluded_genres and {"classical", "piano"} <= set(band.excluded_kinds)
    assert extract("nothing harem-y please").excluded_kinds == ["harem"]
    assert extract("foodie manga pls").genres == ["cooking"] and extract("侍の漫画は？").genres == ["historical"]


def test_an_edition_typed_in_hiragana() -> None:
    assert extract("えいごばんもある？").language == "en" and extract("にほんごばんで").language == "ja"


def test_much_of_a_genre_or_none_needed_rules_it_out() -> None:
    for text, genre in (
        ("恋愛要素はなくていいです", "romance"),
        ("恋愛要素強いのはなしで", "romance"),
        ("バトルが多いのはちょっと…", "action"),
    ):
        assert extract(text).excluded_genres == [genre] and not extract(text).genres, text
    assert extract("恋愛多めがいい").genres == ["romance"]


@pytest.mark.parametrize(
    "text",
    ["less dark pls", "anything like it but less dark", "nothing too dark", "something lighter", "あんまり暗くないの"],
)
def test_darkness_ruled_out_rules_out_horror(text: str) -> None:
    found = extract(text)
    assert found.excluded_genres == ["horror"] and found.genres == []


def test_dark_asked_for_adds_nothing() -> None:
    assert extract("dark fantasy please").excluded_genres == []


def test_a_volume_written_in_kanji_is_that_volume() -> None:
    assert extract("無職転生の一巻").volumes == [1]
    assert extract("第十二巻ありますか").volumes == [12]
    assert extract("注文番号 249-2233445-5566778 の三巻").volumes == [3]


def test_more_than_an_amount_said_to_be_too_much_is_a_price_cap() -> None:
    for text, cap in (("1冊1000円超えるのは高いから、それ以下でダークファンタジー", 1000), ("800円以上はきつい", 800)):
        entities = extract(text)
        assert (entities.max_price_jpy, entities.min_price_jpy) == (cap, None), text
    assert extract("500円以上のやつ").min_price_jpy == 500


def test_spokon_is_a_sports_story() -> None:
    assert extract("スポ根もので").genres == ["sports"]


def test_dislikes_and_fears_said_casually() -> None:
    assert extract("寝る前に読めるゆるい漫画ほしい。ホラーとか絶対ムリ").excluded_genres == ["horror"]
    assert extract("こわい漫画よみたい").genres == ["horror"]


def test_yada_rules_a_genre_out() -> None:
    assert extract("ホラーっぽいのはやだ").excluded_genres == ["horror"]


def test_a_kind_asked_after_with_nai_is_wanted_and_without_it_ruled_out() -> None:
    # 「料理の漫画ないん？」「ないの？」 ask whether there is one; 「ホラーないやつ」 rules it out.
    for text in ("なんか料理の漫画ないん？おもろいやつ", "料理の漫画ないの？", "料理の漫画ない？"):
        assert genres_in(text)[:2] == (["cooking"], []), text
    assert genres_in("ホラーないやつ")[:2] == ([], ["horror"])


def test_yurui_asks_for_slice_of_life_but_yuru_camp_is_a_title() -> None:
    for text in ("仕事で疲れてるからゆるい漫画読みたい", "じゃあ何かゆるーい漫画おすすめして"):
        assert genres_in(text)[0] == ["slice-of-life"], text
    assert genres_in("ゆるキャンある？")[0] == []
