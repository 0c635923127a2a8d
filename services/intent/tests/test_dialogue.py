"""The dialogue policy: each turn resolved against the state before it (no process needed)."""

from __future__ import annotations

import pytest

from mangaassist.common.text import fold
from mangaassist.intent.dialogue import STATE_VERSION, Resolution, cues, resolve, superlative, unlinked_title
from mangaassist.intent.entities import extract
from mangaassist.proto.common.v1 import common_pb2


def mention(
    series_id: str, name: str, kind: str = "title", start: int = 0, author_series: tuple[str, ...] = ()
) -> common_pb2.Mention:
    return common_pb2.Mention(
        series_id=series_id,
        kind=kind,
        name=name,
        score=1.0,
        start=start,
        end=start + len(name),
        author_series=author_series,
    )


def turn(
    text: str,
    state: common_pb2.DialogueState,
    intent: str = "product_search",
    abstained: bool = False,
    mentions: list[common_pb2.Mention] | None = None,
    previous_intent: str = "",
) -> Resolution:
    entities = extract(text)
    mentions = [placed(text, m) for m in mentions or []]
    return resolve(
        text, intent, abstained, mentions, state, unlinked_title(text, entities, mentions), previous_intent, entities
    )


def shown_after(
    text: str,
    shown: list[str],
    intent: str = "product_recommendation",
    mentions: list[common_pb2.Mention] | None = None,
) -> common_pb2.DialogueState:
    """The state after a first turn whose products were ``shown`` (as the orchestrator stores it)."""
    state = turn(text, common_pb2.DialogueState(), intent=intent, mentions=mentions).state
    state.last_shown.extend(shown)
    return state


def placed(text: str, m: common_pb2.Mention) -> common_pb2.Mention:
    """The mention with its span where its name stands in the folded message, as the linker
    reports it (a test names the series; the span follows from the text)."""
    folded, name = fold(text), fold(m.name)
    out = common_pb2.Mention()
    out.CopyFrom(m)
    if folded[m.start : m.end] != name and name in folded:
        out.start = folded.index(name)
        out.end = out.start + len(name)
    return out


def named(text: str, *series: tuple[str, str], intent: str = "product_question") -> common_pb2.DialogueState:
    """The state after a first turn that names these series (id, name as written)."""
    mentions = [mention(series_id, name) for series_id, name in series]
    return turn(text, common_pb2.DialogueState(), intent=intent, mentions=mentions).state


def test_a_named_title_becomes_the_focus_and_follow_ups_refer_to_it() -> None:
    first = turn("Do you have Kingdom?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")])
    assert first.state.focus.series_id == "kingdom" and first.action == "search"
    count = turn("how many volumes are out?", first.state, intent="out_of_scope", abstained=True)
    assert (count.intent, count.state.focus.series_id, count.follow_up) == ("product_question", "kingdom", True)
    assert count.state.focus.latest_volume
    english = turn("and in English?", count.state, abstained=True)
    assert english.state.focus.series_id == "kingdom" and english.state.focus.language == "en"
    volume = turn("is volume 3 in stock?", english.state)
    assert volume.state.focus.volume == 3 and not volume.state.constraints.HasField("in_stock")


def test_refinements_merge_into_the_request_in_force() -> None:
    state = turn("Recommend a romance manga", common_pb2.DialogueState(), intent="product_recommendation").state
    for text in ("only completed ones", "cheaper than 600 yen", "not horror", "under 10 volumes"):
        result = turn(text, state, intent="product_search", abstained=True)
        assert result.intent == "product_recommendation" and result.follow_up
        state = result.state
    c = state.constraints
    assert list(c.genres) == ["romance"] and c.status == "completed" and c.max_price_jpy == 599
    assert list(c.excluded_genres) == ["horror"] and c.max_volumes == 9


def test_cheaper_or_shorter_after_a_list_keeps_the_request_and_orders_by_it() -> None:
    # 「ロマンス」 is the romance genre; 「もっと安いのは？」 after its list is no payment question.
    first = turn("ロマンス漫画のおすすめある？", common_pb2.DialogueState(), intent="product_recommendation")
    assert list(first.state.constraints.genres) == ["romance"]
    listed = common_pb2.DialogueState()
    listed.CopyFrom(first.state)
    listed.last_shown.extend(["kowloon-generic-romance", "ranma-half"])
    for text, classified in (("もっと安いのは？", "payment"), ("anything cheaper?", "product_recommendation")):
        result = turn(text, listed, intent=classified)
        assert (result.intent, result.action) == ("product_recommendation", "search")
        assert list(result.state.constraints.genres) == ["romance"]
        assert superlative(text) == "cheapest"
    # With no list behind it, a price word keeps its own intent.
    alone = turn("もっと安いのは？", common_pb2.DialogueState(), intent="payment")
    assert alone.intent == "payment"


def test_the_volume_asked_for_waits_for_the_choice_between_series() -> None:
    pieces = [
        mention("blue-lock", "ブルーなんとか", kind="partial"),
        mention("blue-period", "ブルーなんとか", kind="partial"),
    ]
    asked = turn("ブルーなんとかの最新刊ほしい", common_pb2.DialogueState(), mentions=pieces)
    assert asked.action == "clarify_series" and asked.state.focus.latest_volume
    described = turn("サッカーのやつ", asked.state)
    assert described.action == "choose" and described.state.focus.latest_volume
    named = turn("ブルーロックのほう", asked.state, mentions=[mention("blue-lock", "ブルーロック")])
    assert named.state.focus.series_id == "blue-lock" and named.state.focus.latest_volume


def test_shorter_or_cheaper_than_the_series_talked_about_is_below_it() -> None:
    liked = named("葬送のフリーレン好きなんだけど", ("frieren", "葬送のフリーレン"), intent="product_recommendation")
    shorter = turn("これ系のファンタジーで、もっと巻数少ないのない？", liked, intent="product_recommendation")
    assert list(shorter.state.constraints.shorter_than) == ["frieren"] and not shorter.state.constraints.cheaper_than
    asked = named("ゆるキャン△って何巻まで？", ("laid-back-camp", "ゆるキャン△"))
    this_kind = turn("これ系で、もっと巻数少ないのない？", asked, intent="product_question")
    assert list(this_kind.state.constraints.like_series_ids) == ["laid-back-camp"]
    assert list(this_kind.state.constraints.shorter_than) == ["laid-back-camp"]
    cheaper = turn("ちょっと高いな、似た感じでもっと安いのある？", asked, intent="product_recommendation")
    assert list(cheaper.state.constraints.cheaper_than) == ["laid-back-camp"]
    assert "laid-back-camp" in cheaper.state.constraints.like_series_ids
    # About one series with nothing else asked: its kind of story, cheaper.
    kingdom = named("Do you have Kingdom?", ("kingdom", "Kingdom"), intent="product_search")
    cheaper_kind = turn("anything cheaper?", kingdom, intent="product_recommendation")
    assert (cheaper_kind.action, list(cheaper_kind.state.constraints.like_series_ids)) == ("similar", ["kingdom"])
    assert list(cheaper_kind.state.constraints.cheaper_than) == ["kingdom"]
    slayer = named("きめつのやいば", ("demon-slayer", "きめつのやいば"), intent="product_search")
    cheaper_ja = turn("もっと安いのある？", slayer, intent="product_search")
    assert cheaper_ja.action == "similar" and not cheaper_ja.not_carried
    # Choosing the shorter of those shown caps nothing.
    among = turn("その中で一番巻数少ないのどれ", shown("monster", "pluto", "20th-century-boys"), abstained=True)
    assert not among.state.constraints.shorter_than and superlative("その中で一番巻数少ないのどれ") == "fewest_volumes"


def test_the_first_of_two_named_at_once_then_the_other() -> None:
    both = named(
        "スラムダンクとバガボンドって、どっちも井上雄彦ですよね",
        ("slam-dunk", "スラムダンク"),
        ("vagabond", "バガボンド"),
    )
    both.last_shown.extend(["vagabond", "slam-dunk"])
    first = turn("最初に言ったほうの英語版ありますか", both)
    assert first.state.focus.series_id == "slam-dunk" and first.state.focus.language == "en"
    first.state.last_shown[:] = ["slam-dunk"]
    other = turn("もうひとつのほうは完結してます？", first.state, intent="product_question")
    assert other.state.focus.series_id == "vagabond"
    later = turn("あとで言ったほうは完結してます？", first.state, intent="product_question")
    assert later.state.focus.series_id == "vagabond"
    # (the English words, once written with backspace characters where "\\b" was meant)
    latter = turn("is the latter finished?", first.state, intent="product_question")
    assert latter.state.focus.series_id == "vagabond"


def test_english_words_running_into_japanese_are_still_words() -> None:
    asked = named("Attack on Titanの日本語版ってある？", ("attack-on-titan", "Attack on Titan"))
    last = turn("final volumeだけほしい", asked)
    assert last.state.focus.series_id == "attack-on-titan" and last.state.focus.latest_volume
    english = turn("やっぱEnglishでも読みたいかも", last.state, intent="product_recommendation")
    assert english.state.focus.series_id == "attack-on-titan" and english.state.focus.language == "en"


@pytest.mark.parametrize("text", ["短くて一気読みできるSFない？", "サクッと読めるSFある？"])
def test_short_said_in_other_words_caps_the_length(text: str) -> None:
    result = turn(text, common_pb2.DialogueState(), intent="product_recommendation")
    assert result.state.constraints.max_volumes == 10 and list(result.state.constraints.genres) == ["sci-fi"]


def test_a_count_remarked_on_after_a_word_is_no_limit() -> None:
    asked = named("コナン何巻まで出てる？", ("case-closed", "コナン"))
    english = turn("もう100巻超えてるんだ…英語版は？", asked)
    assert english.state.focus.series_id == "case-closed" and english.state.focus.language == "en"
    assert not english.state.constraints.HasField("min_volumes")


def test_series_named_together_are_talked_about_in_the_order_named() -> None:
    both = named("スラダンとハイキュー、どっちも完結してますか?", ("slam-dunk", "スラダン"), ("haikyu", "ハイキュー"))
    assert list(both.discussed) == ["slam-dunk", "haikyu"]
    both.last_shown.extend(["haikyu", "slam-dunk"])
    each = turn("巻数はそれぞれ何巻ですか", both, intent="product_question")
    assert set(each.state.constraints.only_series) == {"slam-dunk", "haikyu"}
    haikyu = common_pb2.DialogueState()
    haikyu.CopyFrom(both)
    haikyu.focus.series_id = "haikyu"
    first = turn("最初に聞いたほうを全巻買いたいです", haikyu)
    assert first.state.focus.series_id == "slam-dunk"


def test_the_original_of_a_sequel_in_the_list_shown() -> None:
    listed = shown("dragon-ball", "gintama", "dragon-ball-super", intent="product_search")
    original = common_pb2.Mention(
        series_id="dragon-ball",
        kind="sequel",
        name="Dragon Ball",
        score=0.7,
        start=0,
        end=2,
        relative_to=["dragon-ball-super"],
    )
    assert turn("無印のほうね", listed, mentions=[original]).state.focus.series_id == "dragon-ball"


@pytest.mark.parametrize("text", ["ブルーなんとかってやつ、美大めざす話", "美大受験のほうのブルーも気になる"])
def test_a_piece_of_a_title_with_its_story_chooses_among_the_series_it_fits(text: str) -> None:
    piece = "ブルーなんとか" if "なんとか" in text else "ブルー"
    pieces = [mention("blue-lock", piece, kind="partial"), mention("blue-period", piece, kind="partial")]
    result = turn(text, common_pb2.DialogueState(), mentions=pieces)
    assert result.action == "choose" and result.offered_only
    assert list(result.state.constraints.only_series) == ["blue-lock", "blue-period"]
    # The piece alone is asked back.
    assert turn("ブルーなんとかの最新刊ほしい", common_pb2.DialogueState(), mentions=pieces).action == "clarify_series"


def test_an_author_with_a_status_picks_among_their_works_whatever_was_in_focus() -> None:
    nana = turn(
        "NANAって完結した？", common_pb2.DialogueState(), intent="product_question", mentions=[mention("nana", "NANA")]
    ).state
    works = ("nana", "paradise-kiss")
    by_her = [mention(sid, "矢沢あい", kind="author", author_series=works) for sid in works]
    result = turn("矢沢あいで完結してる漫画ある？", nana, intent="product_question", mentions=by_her)
    assert not result.state.focus.series_id and result.state.constraints.status == "completed"
    assert set(result.state.constraints.only_series) == set(works)


def test_how_far_ones_own_order_has_got_is_its_status_not_shipping() -> None:
    own = turn("こないだ頼んだやつの配送状況しりたい", common_pb2.DialogueState(), intent="shipping_info")
    assert own.intent == "order_status" and own.state.pending == "order_id"
    general = turn("北海道への配送ってどれくらいかかる？", common_pb2.DialogueState(), intent="shipping_info")
    assert general.intent == "shipping_info"


def test_the_price_of_one_of_two_described_by_what_happens_in_it() -> None:
    compared = shown("delicious-in-dungeon", "food-wars", intent="product_question")
    compared.constraints.only_series.extend(["delicious-in-dungeon", "food-wars"])
    result = turn("じゃあ魔物食べるほうの値段を教えてください", compared, intent="product_recommendation")
    assert (result.intent, result.action) == ("product_question", "choose")
    assert list(result.state.constraints.only_series) == ["delicious-in-dungeon", "food-wars"]


def test_a_story_told_alone_is_a_title_looked_for_not_an_ask_back() -> None:
    told = turn("魚が歩いてくるやつ", common_pb2.DialogueState(), intent="out_of_scope", abstained=True)
    assert (told.intent, told.action) == ("product_search", "search")
    weather = turn("今日の天気どう？", common_pb2.DialogueState(), intent="out_of_scope")
    assert weather.intent == "out_of_scope"


def test_a_new_request_starts_a_new_topic() -> None:
    state = turn("Do you have Kingdom?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")]).state
    cooking = turn("ah ok nvm. do you have anything about cooking", state, intent="product_recommendation")
    assert not cooking.state.HasField("focus") and list(cooking.state.constraints.genres) == ["cooking"]


def test_like_x_recommends_from_x_and_never_x() -> None:
    result = turn(
        "I enjoyed Dandadan, anything similar?",
        common_pb2.DialogueState(),
        mentions=[mention("dandadan", "Dandadan", start=10)],
    )
    assert result.action == "similar" and result.intent == "product_recommendation"
    assert list(result.state.constraints.like_series_ids) == ["dandadan"]


@pytest.mark.parametrize(
    ("text", "series_id", "name"),
    [
        ("something after Naruto", "naruto", "Naruto"),
        ("recommend me something after death note", "death-note", "death note"),
        ("進撃の巨人の後に読める漫画ある？", "attack-on-titan", "進撃の巨人"),
        ("ナルトの次に読むならどれ？", "naruto", "ナルト"),
    ],
)
def test_what_to_read_after_x_is_like_x_and_never_x(text: str, series_id: str, name: str) -> None:
    result = turn(text, common_pb2.DialogueState(), "product_search", mentions=[mention(series_id, name)])
    assert (result.intent, result.action) == ("product_recommendation", "similar")
    assert list(result.state.constraints.like_series_ids) == [series_id]


def test_a_volume_after_another_or_an_author_after_an_event_is_no_likeness() -> None:
    focus = turn("Do you have Kingdom?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")]).state
    assert not turn("what comes after", focus, "product_question").state.constraints.like_series_ids
    one_piece = turn(
        "ワンピースの1巻の次は？", common_pb2.DialogueState(), mentions=[mention("one-piece", "ワンピース")]
    )
    assert one_piece.state.focus.series_id == "one-piece" and not one_piece.state.constraints.like_series_ids


def test_a_title_containing_like_is_no_like_request() -> None:
    result = turn(
        "do you have march comes in like a lion",
        common_pb2.DialogueState(),
        mentions=[mention("march-comes-in-like-a-lion", "March Comes in Like a Lion", start=12)],
    )
    assert result.action == "search" and result.state.focus.series_id == "march-comes-in-like-a-lion"


def test_the_order_number_we_asked_for_fills_the_slot() -> None:
    asked = turn("where is my order?", common_pb2.DialogueState(), intent="order_status")
    assert asked.action == "ask_order_id" and asked.state.pending == "order_id"
    answered = turn("It's 249-1234567-7654321", asked.state, intent="out_of_scope", abstained=True)
    assert (answered.intent, answered.action, answered.follow_up) == ("order_status", "answer", True)
    assert answered.state.pending == ""


def test_a_title_we_do_not_carry_is_said_so() -> None:
    result = turn("Do you have Harry Potter?", common_pb2.DialogueState())
    assert result.not_carried and result.intent == "product_search"
    assert not turn("do you have any horror manga", common_pb2.DialogueState()).not_carried


def test_two_series_with_the_same_name_are_asked_back_by_name() -> None:
    tied = [mention("a-series", "Same"), mention("b-series", "Same")]
    result = turn("Same", common_pb2.DialogueState(), mentions=tied)
    assert result.action == "clarify_series" and result.candidates == ["a-series", "b-series"]
    chosen = turn("the second one please", result.state, abstained=True)
    assert chosen.state.focus.series_id == "b-series" and chosen.follow_up


def test_ruled_out_series_are_excluded() -> None:
    state = turn("小学生の息子に漫画を買ってあげたいです", common_pb2.DialogueState(), abstained=True).state
    result = turn(
        "ドラえもんはもう持ってます", state, intent="product_search", mentions=[mention("doraemon", "ドラえもん")]
    )
    assert list(result.state.constraints.excluded_series) == ["doraemon"] and not result.state.HasField("focus")


def test_state_of_another_format_is_ignored() -> None:
    old = common_pb2.DialogueState(version=STATE_VERSION + 1, intent="product_search")
    old.focus.series_id = "kingdom"
    result = turn("how many volumes are out?", old, abstained=True)
    assert not result.state.HasField("focus") and result.state.version == STATE_VERSION


@pytest.mark.parametrize(
    ("text", "classified", "previous"),
    [
        ("how long does it usually take", "out_of_scope", "shipping_info"),  # a shop question continues
        ("can i still cancel it", "payment", "order_status"),  # an order question stays with the order
    ],
)
def test_an_unsure_follow_up_continues_the_previous_question(text: str, classified: str, previous: str) -> None:
    result = turn(text, common_pb2.DialogueState(), intent=classified, abstained=True, previous_intent=previous)
    assert result.intent == previous and result.action == "answer"


def test_resolution_is_bounded_on_the_worst_inputs() -> None:
    """Extraction plus resolution, against ordinary text of the same length."""
    from mangaassist.devtools.cpu import assert_no_worse_than_ordinary

    worst = ["⑳" * 4000, "9" * 4000, "not horror " * 360, "like " * 800, "最新刊" * 1300, "under 10 volumes " * 230]
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search")
    state.focus.series_id = "kingdom"

    def turn(text: str) -> object:
        entities = extract(text)
        return resolve(
            text,
            "product_search",
            False,
            [mention("kingdom", "Kingdom")],
            state,
            unlinked_title(text, entities),
        )

    for text in worst:
        assert_no_worse_than_ordinary(turn, text, runs=3)


def test_asking_for_others_rules_out_what_was_just_seen() -> None:
    shown = common_pb2.DialogueState(
        version=STATE_VERSION, intent="product_recommendation", last_shown=["natsumes-book-of-friends", "mushishi"]
    )
    shown.constraints.genres.append("supernatural")
    result = turn("妖怪が出てくる優しい話、他にもある？", shown, intent="product_recommendation")
    assert {"natsumes-book-of-friends", "mushishi"} <= set(result.state.constraints.excluded_series)
    same = turn("only completed ones", shown, intent="product_search", abstained=True)
    assert not same.state.constraints.excluded_series  # a refinement without "other" keeps them


def shown(*series_ids: str, intent: str = "product_recommendation") -> common_pb2.DialogueState:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent=intent)
    state.last_shown.extend(series_ids)
    return state


def test_a_question_about_the_series_just_shown_chooses_among_them() -> None:
    result = turn("which of those is finished", shown("hajime-no-ippo", "ashita-no-joe"), abstained=True)
    assert result.action == "choose" and result.intent in ("product_question", "product_search")
    assert list(result.state.constraints.only_series) == ["hajime-no-ippo", "ashita-no-joe"]
    assert result.state.constraints.status == "completed"
    among = turn("その中で完結してるのは？", shown("inuyasha", "ranma-half"), abstained=True)
    assert list(among.state.constraints.only_series) == ["inuyasha", "ranma-half"]
    # "all of them" is the whole set, not a choice among them.
    whole = turn("how much for all of them", shown("one-piece", "komi-cant-communicate"), abstained=True)
    assert whole.action != "choose"


def test_same_author_asks_for_the_focus_authors_other_works() -> None:
    state = turn("Do you have Vagabond?", common_pb2.DialogueState(), mentions=[mention("vagabond", "Vagabond")]).state
    for text in (
        "same author, anything finished?",
        "the artist did other stuff too right?",
        "anything else by him",
        "この作者の他の作品は？",
        "同じ作者の漫画ある？",
    ):
        result = turn(text, state, intent="product_recommendation")
        c = result.state.constraints
        assert list(c.by_authors_of) == ["vagabond"] and list(c.excluded_series) == ["vagabond"], text
        assert result.intent in ("product_search", "product_recommendation") and result.follow_up
    assert turn("same author, anything finished?", state).state.constraints.status == "completed"


def test_an_authors_other_works_are_theirs_and_who_else_is_someone_like_them() -> None:
    state = turn(
        "チェンソーマン12巻ある？", common_pb2.DialogueState(), mentions=[mention("chainsaw-man", "チェンソーマン")]
    ).state
    works = ("chainsaw-man", "look-back", "fire-punch")
    fujimoto = [mention("chainsaw-man", "藤本タツキ", kind="author", author_series=works)]
    other = turn("藤本タツキの他の作品もありますか", state, mentions=fujimoto)
    assert list(other.state.constraints.only_series) == ["look-back", "fire-punch"] and other.action == "search"
    who_else = turn("who else writes like 藤本タツキ?", state, mentions=fujimoto, intent="product_recommendation")
    assert who_else.action == "similar"


def test_a_title_we_do_not_carry_beside_an_author_we_do() -> None:
    adachi = [mention("cross-game", "Mitsuru Adachi", kind="author", start=24, author_series=("cross-game",))]
    result = turn("do you have touch by mitsuru adachi", common_pb2.DialogueState(), mentions=adachi)
    assert result.not_carried and list(result.state.constraints.only_series) == ["cross-game"]
    # The author's own works, asked for by name, are no missing title.
    works = turn("do you have anything by mitsuru adachi", common_pb2.DialogueState(), mentions=adachi)
    assert not works.not_carried


def test_an_unsure_do_you_have_x_with_an_unknown_x_is_not_carried() -> None:
    state = turn(
        "ナルト全72巻セットってある？", common_pb2.DialogueState(), mentions=[mention("naruto", "ナルト")]
    ).state
    boruto = turn("ボルトは置いてますか", state, intent="shipping_info", abstained=True)
    assert boruto.not_carried and boruto.intent == "product_search"
    english = turn("英語のもある？", state, intent="shipping_info", abstained=True)
    assert not english.not_carried and english.state.focus.series_id == "naruto"


def test_genre_words_inside_a_title_ask_for_no_genre() -> None:
    result = turn(
        "anything like demon slayer but shorter",
        common_pb2.DialogueState(),
        mentions=[mention("demon-slayer", "Demon Slayer", start=14)],
        intent="product_recommendation",
    )
    assert not result.state.constraints.genres


def test_what_a_named_series_is_like_is_a_question_about_it() -> None:
    for text, series, name in (
        ("カイジの英語版って2巻しかないの？", "kaiji", "カイジ"),
        ("is berserk finished?", "berserk", "berserk"),
        ("how many volumes does kaiji have", "kaiji", "kaiji"),
        # whether an edition exists, asked in the negative or for the whole set
        ("キングダムは英語版ないの？", "kingdom", "キングダム"),
        ("Horimiya って英語で全巻ある？", "horimiya", "Horimiya"),
    ):
        result = turn(text, common_pb2.DialogueState(), mentions=[mention(series, name)])
        assert result.intent == "product_question", text


def test_a_genre_asked_for_with_no_title_is_a_request_for_suggestions() -> None:
    result = turn("600円以下で買えるSF漫画ある？", common_pb2.DialogueState(), intent="product_search")
    assert result.intent == "product_recommendation" and list(result.state.constraints.genres) == ["sci-fi"]


def test_what_about_another_series_asks_the_same_of_it() -> None:
    state = turn(
        "kaguya-sama in english?", common_pb2.DialogueState(), mentions=[mention("kaguya-sama", "kaguya-sama")]
    ).state
    assert state.focus.language == "en"
    other = turn("maid sama は？", state, mentions=[mention("maid-sama", "maid sama")])
    assert other.state.focus.series_id == "maid-sama" and other.state.focus.language == "en"
    fresh = turn("Do you have Horimiya?", state, mentions=[mention("horimiya", "Horimiya", start=12)])
    assert not fresh.state.focus.HasField("language")


def test_a_piece_of_a_forgotten_title_is_a_search_for_one_title() -> None:
    pieces = [
        common_pb2.Mention(series_id=s, kind="partial", name=n, score=0.75, start=0, end=2)
        for s, n in (("blue-box", "Blue Box"), ("blue-spring-ride", "Blue Spring Ride"))
    ]
    result = turn(
        "アオなんとかっていう恋愛漫画、タイトル忘れちゃった",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=pieces,
    )
    assert result.action == "clarify_series" and result.intent == "product_search"
    assert list(result.candidates) == ["blue-box", "blue-spring-ride"]


def test_both_editions_named_the_last_is_asked_for() -> None:
    assert extract("英語版は17巻までなんですね、日本語版の25巻ください").language == "ja"
    assert extract("the japanese edition is sold out? then the english edition").language == "en"


def test_a_kind_of_story_ruled_out_stays_ruled_out() -> None:
    state = turn("sports manga please", common_pb2.DialogueState(), intent="product_recommendation").state
    result = turn("no basketball or volleyball, ive read those", state, abstained=True)
    assert list(result.state.constraints.genres) == ["sports"]
    assert list(result.state.constraints.excluded_kinds) == ["basketball", "volleyball"]


def test_a_fan_of_an_author_is_shown_the_authors_works_and_likeness_asks_for_others() -> None:
    ito = [mention("uzumaki", "伊藤潤二", kind="author", author_series=("uzumaki", "tomie"))]
    fan = turn("伊藤潤二が好きです", common_pb2.DialogueState(), intent="out_of_scope", abstained=True, mentions=ito)
    assert (fan.action, list(fan.state.constraints.only_series)) == ("search", ["uzumaki", "tomie"])
    assert fan.intent == "product_recommendation"
    alike = turn(
        "伊藤潤二みたいなの読みたい", common_pb2.DialogueState(), intent="product_recommendation", mentions=ito
    )
    assert alike.action == "similar" and list(alike.state.constraints.like_series_ids) == ["uzumaki", "tomie"]


def test_describing_a_title_one_cannot_name_is_a_search_for_it() -> None:
    result = turn("書道家が島で暮らす漫画、なんだったっけ", common_pb2.DialogueState(), intent="product_recommendation")
    assert result.intent == "product_search"
    asked = turn(
        "what was that manga called, the one with the cooking club",
        common_pb2.DialogueState(),
        intent="product_recommendation",
    )
    assert asked.intent == "product_search"


def test_an_order_talked_about_after_an_account_question_asks_for_its_number() -> None:
    state = turn("注文履歴ってどこから見られますか", common_pb2.DialogueState(), intent="account").state
    result = turn(
        "先週頼んだやつがどうなってるか知りたい",
        state,
        intent="order_status",
        abstained=True,
        previous_intent="account",
    )
    assert (result.intent, result.action, result.state.pending) == ("order_status", "ask_order_id", "order_id")


def test_is_it_ok_asks_about_the_series_just_shown() -> None:
    shown = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search")
    shown.constraints.only_series.extend(["gantz", "inuyashiki"])
    shown.last_shown.extend(["inuyashiki", "gantz"])
    result = turn("グロいの苦手なんだけど大丈夫そう？", shown, intent="product_recommendation", abstained=True)
    assert (result.intent, result.state.focus.series_id) == ("product_question", "inuyashiki")


def test_long_series_the_volume_before_and_the_edition_in_english_words() -> None:
    long = turn(
        "長く楽しめる50巻以上の長編でおすすめある？", common_pb2.DialogueState(), intent="product_recommendation"
    )
    assert long.state.constraints.min_volumes == 50 and not long.state.constraints.HasField("max_volumes")
    capped = turn("20巻超えてないやつで", long.state, intent="product_search", abstained=True)
    assert capped.state.constraints.max_volumes == 20 and not capped.state.constraints.HasField("min_volumes")
    vol = turn("アオのハコの20巻ください", common_pb2.DialogueState(), mentions=[mention("blue-box", "アオのハコ")])
    before = turn("ひとつ前の巻もほしい", vol.state, abstained=True)
    assert (before.state.focus.series_id, before.state.focus.volume) == ("blue-box", 19)
    english = turn(
        "ONE PIECEのEnglish版ある？", common_pb2.DialogueState(), mentions=[mention("one-piece", "ONE PIECE")]
    )
    assert english.state.focus.language == "en"


def test_whats_x_like_is_a_question_and_more_like_it_is_a_like_request() -> None:
    state = turn(
        "do you have delicious in dungeon",
        common_pb2.DialogueState(),
        mentions=[mention("delicious-in-dungeon", "Delicious in Dungeon", start=12)],
    ).state
    asked = turn(
        "whats Delicious in Dungeon like? is it finished?",
        common_pb2.DialogueState(),
        intent="product_question",
        mentions=[mention("delicious-in-dungeon", "Delicious in Dungeon", start=6)],
    )
    assert asked.action == "search" and asked.state.focus.series_id == "delicious-in-dungeon"
    more = turn("more like it?", state, intent="product_recommendation")
    assert more.action == "similar" and list(more.state.constraints.like_series_ids) == ["delicious-in-dungeon"]


def test_other_works_of_the_author_however_asked() -> None:
    state = turn("monster by urasawa", common_pb2.DialogueState(), mentions=[mention("monster", "Monster")]).state
    for text in ("did he do anything else?", "has the author made any other manga?"):
        other = turn(text, state, intent="product_search", abstained=True)
        assert list(other.state.constraints.by_authors_of) == ["monster"], text
        assert "monster" in other.state.constraints.excluded_series


def test_the_edition_named_last_wins_and_the_customers_own_languages_name_none() -> None:
    golgo = turn("golgo 13", common_pb2.DialogueState(), mentions=[mention("golgo-13", "Golgo 13")]).state
    english = turn("whoa, 212 volumes in japanese. english?", golgo, abstained=True)
    assert english.state.focus.language == "en"
    fruits = turn(
        "fruits basket?", common_pb2.DialogueState(), mentions=[mention("fruits-basket", "Fruits Basket")]
    ).state
    grandma = turn("Are they in English? She does not read Japanese.", fruits, abstained=True)
    assert grandma.state.focus.language == "en"
    rusty = turn("in english please, my japanese is super rusty haha", fruits, abstained=True)
    assert rusty.state.focus.language == "en"


def test_do_you_have_x_with_fond_words_asks_for_x_itself() -> None:
    moon = [mention("sailor-moon", "Sailor Moon", start=12)]
    asked = turn(
        "Do you have Sailor Moon? my wife loved it as a kid in the 90s",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=moon,
    )
    assert asked.action == "search" and asked.state.focus.series_id == "sailor-moon"
    fans = turn(
        "ダンダダン好きな人におすすめってある？",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=[mention("dandadan", "ダンダダン")],
    )
    assert fans.action == "similar" and list(fans.state.constraints.like_series_ids) == ["dandadan"]


def test_up_to_volume_n_of_the_series_in_focus_is_no_length_cap() -> None:
    focus = turn(
        "ブルーピリオド", common_pb2.DialogueState(), mentions=[mention("blue-period", "ブルーピリオド")]
    ).state
    upto = turn("まだ続いてるんですね。じゃあとりあえず5巻までお願いします", focus, abstained=True)
    assert upto.state.focus.series_id == "blue-period"
    shorter = turn("ideally 5 volumes or fewer so people actually finish it", focus, intent="product_recommendation")
    assert shorter.intent == "product_recommendation" and shorter.state.constraints.max_volumes == 5


def test_volumes_counted_from_the_latest_shown_and_a_bare_number_after_a_volume() -> None:
    state = turn("ヨナの最新刊", common_pb2.DialogueState(), mentions=[mention("yona-of-the-dawn", "ヨナ")]).state
    state.focus.latest_shown = 45  # what the orchestrator records once the latest volume was shown
    before = turn("じゃあその前の巻もお願いします", state, abstained=True)
    assert (before.state.focus.volume, before.state.focus.latest_volume) == (44, False)
    five = turn(
        "and 5?",
        turn(
            "witch hat atelier vol 4",
            common_pb2.DialogueState(),
            mentions=[mention("witch-hat-atelier", "Witch Hat Atelier")],
        ).state,
        abstained=True,
    )
    assert five.state.focus.volume == 5


def test_an_authors_series_described_is_chosen_not_asked_back() -> None:
    oda = [mention("one-piece", "Oda", kind="author", start=22, author_series=("komi-cant-communicate", "one-piece"))]
    result = turn("whats that manga by oda, the pirate one", common_pb2.DialogueState(), mentions=oda)
    assert result.action == "choose" and set(result.state.constraints.only_series) == {
        "komi-cant-communicate",
        "one-piece",
    }


def test_a_refinement_keeps_the_words_of_the_request_it_refines() -> None:
    first = turn(
        "buying for my dad, he's 60 and into samurai stuff", common_pb2.DialogueState(), intent="product_recommendation"
    )
    assert first.state.topic == "buying for my dad, he's 60 and into samurai stuff"
    shorter = turn("nothing too long, 10 volumes or fewer", first.state, abstained=True)
    assert shorter.follow_up and shorter.state.topic == first.state.topic
    other = turn("what about romance instead?", shorter.state, intent="product_recommendation", abstained=True)
    assert not other.state.topic or "romance" in other.state.topic


def shown_list(*series: str) -> common_pb2.DialogueState:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_recommendation")
    state.constraints.genres.append("sports")
    state.last_shown.extend(series)
    return state


def test_a_question_after_a_list_is_about_its_first_series_a_refinement_is_not() -> None:
    listed = shown_list("ashita-no-joe", "hajime-no-ippo")
    for text in ("english is only 3 volumes?", "how many in english", "newest english volume?"):
        asked = turn(text, listed, intent="product_recommendation", abstained=True)
        assert (asked.intent, asked.state.focus.series_id) == ("product_question", "ashita-no-joe"), text
    for text in ("in stock のだけ", "英語版で読めるのは？", "japanese editions are fine, actually prefer them"):
        refined = turn(text, listed, intent="product_recommendation", abstained=True)
        assert refined.intent == "product_recommendation" and not refined.state.HasField("focus"), text


def test_words_inside_words_are_no_cues() -> None:
    # "brother" holds "other": no request for other series.
    state = turn(
        "tokyo ghoul english vol 1", common_pb2.DialogueState(), mentions=[mention("tokyo-ghoul", "tokyo ghoul")]
    )
    asked = turn("is it ok for my 13 yo brother", state.state, intent="product_recommendation")
    assert (asked.intent, asked.state.focus.series_id) == ("product_question", "tokyo-ghoul")
    # "finished Slam Dunk" is the customer's reading, not a request for finished series.
    inoue = [
        mention("slam-dunk", "Slam Dunk", start=9),
        mention("vagabond", "Inoue", kind="author", start=52, author_series=("slam-dunk", "vagabond", "real")),
    ]
    other = turn(
        "finished Slam Dunk for the third time. what else did Inoue draw?",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=inoue,
    )
    assert set(other.state.constraints.only_series) == {"vagabond", "real"}
    assert not other.state.constraints.HasField("status")


def test_the_author_of_a_series_named_with_it() -> None:
    for text, sid, name in (
        ("モブサイコ100の作者の他の作品", "mob-psycho-100", "モブサイコ100"),
        ("did the FMA author do anything else?", "fullmetal-alchemist", "FMA"),
        ("anything by the chainsaw man guy?", "chainsaw-man", "Chainsaw Man"),
    ):
        result = turn(
            text,
            common_pb2.DialogueState(),
            intent="product_question",
            mentions=[mention(sid, name, start=text.find(name))],
        )
        assert list(result.state.constraints.by_authors_of) == [sid] and sid in result.state.constraints.excluded_series
    # After another series, "X is by the same author, right?" asks about X itself.
    kaguya = turn("かぐや様", common_pb2.DialogueState(), mentions=[mention("kaguya-sama-love-is-war", "かぐや様")])
    oshi = turn("推しの子も同じ作者だよね？", kaguya.state, mentions=[mention("oshi-no-ko", "推しの子")])
    assert oshi.state.focus.series_id == "oshi-no-ko" and not oshi.state.constraints.by_authors_of


def test_the_requests_words_kept_for_its_refinements_hold_no_contact_details() -> None:
    result = turn(
        "any romance manga? mail me at pii.test@example.jp or 090-1234-5678",
        common_pb2.DialogueState(),
        intent="product_recommendation",
    )
    assert "example.jp" not in result.state.topic and "1234" not in result.state.topic


def test_a_bare_name_we_do_not_carry_is_said_so_not_asked_back() -> None:
    for text in ("boruto?", "yowamushi pedal?"):
        result = turn(text, common_pb2.DialogueState(), intent="product_search", abstained=True)
        assert result.not_carried and result.action == "search", text
    for text in ("help?", "seriously?", "english?"):
        assert not turn(text, common_pb2.DialogueState(), intent="product_search", abstained=True).not_carried, text


def test_a_bare_romaji_word_is_a_japanese_title_but_known_words_are_not() -> None:
    for text in ("boruto", "yawara", "Kenichi."):
        result = turn(text, common_pb2.DialogueState(), intent="greeting", abstained=True)
        assert result.not_carried and result.action == "search", text
    for text in ("kawaii", "shonen", "nice", "hello", "some"):
        assert not turn(text, common_pb2.DialogueState(), intent="greeting", abstained=True).not_carried, text


def test_what_about_a_name_we_lack_is_said_so_but_what_about_a_property_is_about_the_focus() -> None:
    state = turn("Do you have Kingdom?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")]).state
    boruto = turn("what about Boruto?", state, intent="out_of_scope", abstained=True)
    assert boruto.not_carried and boruto.intent == "product_search"
    for text in (
        "what about volume 3?",
        "what about the sequel?",
        "what about for a 10 year old?",
        "what about ebooks",
    ):
        result = turn(text, state, intent="out_of_scope", abstained=True)
        assert not result.not_carried and result.state.focus.series_id == "kingdom", text


def test_a_service_question_about_the_series_in_focus_is_that_service_and_keeps_the_focus() -> None:
    state = turn(
        "Do you have Kingdom in English?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")]
    ).state
    result = turn(
        "I'll take vol 1 in English. how long to get it to Osaka?", state, intent="out_of_scope", abstained=True
    )
    assert result.intent == "shipping_info" and result.action == "answer"
    assert (result.state.focus.series_id, result.state.focus.language, result.state.focus.volume) == (
        "kingdom",
        "en",
        1,
    )


def test_the_latest_volume_of_an_author_with_one_series_is_that_series_latest() -> None:
    oda = mention("one-piece", "尾田", kind="author", author_series=("one-piece",))
    result = turn("尾田先生の最新刊ありますか", common_pb2.DialogueState(), mentions=[oda])
    assert result.state.focus.series_id == "one-piece" and result.state.focus.latest_volume


def test_a_name_we_lack_with_a_volume_an_edition_or_manga_is_still_not_carried() -> None:
    for text in (
        "black butler vol 30",
        "overlord manga?",
        "tokyo mew mew vol 1?",
        "ao ashi の英語版ありますか",
        "shaman king complete edition?",
        "Don't Toy with Me, Miss Nagatoro — got it?",
    ):
        result = turn(text, common_pb2.DialogueState(), intent="product_search", abstained=True)
        assert result.not_carried, text
    for text in ("show me vol 4", "recommend manga vol 1", "英語のやつある？"):
        assert not turn(text, common_pb2.DialogueState(), intent="product_search", abstained=True).not_carried, text
    focus = turn("呪術廻戦", common_pb2.DialogueState(), mentions=[mention("jujutsu-kaisen", "呪術廻戦")]).state
    more = turn("じゃあ1巻もください", focus)  # "then volume 1 too": of the series in focus
    assert not more.not_carried and (more.state.focus.series_id, more.state.focus.volume) == ("jujutsu-kaisen", 1)


def test_a_title_someone_else_loves_is_a_gift_of_it_more_like_it_is_a_like_request() -> None:
    for text, sid, name in (
        ("母がベルばら好きで、誕生日にあげたいんです", "the-rose-of-versailles", "ベルばら"),
        ("my son (7) loves pokemon. is there a manga", "pokemon-adventures", "pokemon"),
    ):
        gift = turn(text, common_pb2.DialogueState(), intent="product_recommendation", mentions=[mention(sid, name)])
        assert gift.state.focus.series_id == sid and not gift.state.constraints.like_series_ids, text
    more = turn(
        "loved food wars. more like that?", common_pb2.DialogueState(), mentions=[mention("food-wars", "food wars")]
    )
    assert list(more.state.constraints.like_series_ids) == ["food-wars"]


def test_another_kind_asked_for_after_a_series_is_a_new_request() -> None:
    gintama = turn("gintama", common_pb2.DialogueState(), mentions=[mention("gintama", "gintama")]).state
    other = turn("fine, another comedy then, finished, english available", gintama, intent="product_recommendation")
    assert other.intent == "product_recommendation" and not other.state.HasField("focus")
    shorter = turn("やっぱやめとく、もっと短くて完結してる面白いのない？", gintama, intent="product_question")
    assert shorter.intent == "product_recommendation"
    english = turn("英語版のない？", gintama, intent="product_search")  # the English edition of it
    assert english.state.focus.series_id == "gintama" and english.state.focus.language == "en"


def test_an_edition_in_kana_and_what_else_the_author_did() -> None:
    aot = turn(
        "しんげきのきょじん えいごばん",
        common_pb2.DialogueState(),
        mentions=[mention("attack-on-titan", "しんげきのきょじん")],
    )
    assert aot.state.focus.language == "en"
    fma = turn(
        "fullmetal alchemist",
        common_pb2.DialogueState(),
        mentions=[mention("fullmetal-alchemist", "fullmetal alchemist")],
    )
    other = turn("what else did the author do", fma.state, intent="product_recommendation")
    assert list(other.state.constraints.by_authors_of) == ["fullmetal-alchemist"]


def test_series_already_read_are_ruled_out_however_listed() -> None:
    cooking = turn("料理の漫画おすすめある？", common_pb2.DialogueState(), intent="product_recommendation").state
    both = turn(
        "ダン飯と食戟は読みました",
        cooking,
        intent="product_question",
        mentions=[mention("delicious-in-dungeon", "ダン飯"), mention("food-wars", "食戟")],
    )
    assert both.intent == "product_recommendation" and list(both.state.constraints.genres) == ["cooking"]
    assert set(both.state.constraints.excluded_series) == {"delicious-in-dungeon", "food-wars"}
    # The linker's span covers the name as typed (the catalog writes 「ゆるキャン△」).
    owned = turn("ゆるキャンはもう全部持ってます", cooking, mentions=[mention("laid-back-camp", "ゆるキャン△")])
    assert "laid-back-camp" in owned.state.constraints.excluded_series
    # ... an author's works: 「伊藤潤二のはもう全部読んだ」.
    horror = turn("短いホラーでおすすめある？", common_pb2.DialogueState(), intent="product_recommendation").state
    ito = mention("uzumaki", "伊藤潤二", kind="author", author_series=("uzumaki", "tomie", "gyo"))
    all_read = turn("伊藤潤二のはもう全部読んだ", horror, intent="product_recommendation", mentions=[ito])
    assert {"uzumaki", "tomie", "gyo"} <= set(all_read.state.constraints.excluded_series)
    assert not all_read.state.constraints.only_series
    # ... and the one named by a piece of it: 「スライムのやつはもう読んだ」.
    slime = mention("that-time-i-got-reincarnated-as-a-slime", "スライム", kind="partial")
    read = turn("スライムのやつはもう読んだ", cooking, intent="product_search", mentions=[slime])
    assert read.intent == "product_recommendation"
    assert "that-time-i-got-reincarnated-as-a-slime" in read.state.constraints.excluded_series


def test_the_order_asked_for() -> None:
    assert superlative("which one is the shortest") == "fewest_volumes"
    assert superlative("その中で一番安いのは？") == "cheapest"
    assert superlative("longest running manga you have?") == "most_volumes"
    assert superlative("short manga please") == "" and superlative("cheap ones") == ""


@pytest.mark.parametrize(
    ("text", "named", "ruled_out"),
    [
        ("She already has Orange and Strobe Edge.", [("orange", "Orange"), ("strobe-edge", "Strobe Edge")], 2),
        ("Yotsuba is already on my shelf, all of it.", [("yotsuba", "Yotsuba")], 1),
        ("「うずまき」と「富江」は持っているので、それ以外で", [("uzumaki", "うずまき"), ("tomie", "富江")], 2),
        ("犬夜叉とらんま1/2はそろっているので他の作品", [("inuyasha", "犬夜叉"), ("ranma-half", "らんま1/2")], 2),
        ("do you have naruto or bleach", [("naruto", "naruto"), ("bleach", "bleach")], 0),
    ],
)
def test_series_the_customer_or_someone_else_already_has_are_ruled_out(
    text: str, named: list[tuple[str, str]], ruled_out: int
) -> None:
    state = turn("recommend a manga for my friend", common_pb2.DialogueState(), intent="product_recommendation").state
    result = turn(text, state, intent="product_search", mentions=[mention(s, n) for s, n in named])
    assert len(result.state.constraints.excluded_series) == ruled_out


def test_a_linker_span_counted_without_punctuation_still_rules_out() -> None:
    # The linker counts characters with "I've" as "i ve": its span maps back onto the message.
    text = "not basketball, I've already read Haikyu"
    at = fold(text).index("haikyu") - 1  # one apostrophe fewer before it
    m = common_pb2.Mention(series_id="haikyu", kind="alias", name="ハイキュー", score=1.0, start=at, end=at + 6)
    result = resolve(text, "product_search", False, [m], common_pb2.DialogueState(), False, "")
    assert list(result.state.constraints.excluded_series) == ["haikyu"]


@pytest.mark.parametrize(
    ("text", "series", "name"),
    [
        ("Zatch Bell! I loved that as a kid. Is it complete?", "zatch-bell", "Zatch Bell"),
        ("What about Claymore? Similar dark fantasy vibe. Is that one finished?", "claymore", "Claymore"),
        (
            "does Magic Knight Rayearth come in Japanese too? She loved it.",
            "magic-knight-rayearth",
            "Magic Knight Rayearth",
        ),
    ],
)
def test_a_question_about_a_title_with_a_liking_in_it_is_about_that_title(text: str, series: str, name: str) -> None:
    result = turn(text, common_pb2.DialogueState(), intent="product_recommendation", mentions=[mention(series, name)])
    assert result.state.focus.series_id == series and not result.state.constraints.like_series_ids
    liked = turn(
        "i loved claymore, anything similar?", common_pb2.DialogueState(), mentions=[mention("claymore", "claymore")]
    )
    assert list(liked.state.constraints.like_series_ids) == ["claymore"]


def test_a_return_of_a_numbered_order_is_a_return() -> None:
    text = "注文番号249-2233445-5566778で届いた本が違っていました。返品したいです。"
    assert turn(text, common_pb2.DialogueState(), intent="return_refund").intent == "return_refund"
    assert turn("where is 249-2233445-5566778", common_pb2.DialogueState(), intent="order_status").intent == (
        "order_status"
    )


def test_a_remark_and_a_question_about_the_focus_is_no_unknown_title() -> None:
    focus = turn("ジョジョ何巻まで出てる？", common_pb2.DialogueState(), mentions=[mention("jojo", "ジョジョ")]).state
    for text in ("けっこうありますね…まだ連載は続いているんですか？", "英語版も出ていたら教えてください。"):
        result = turn(text, focus, intent="product_search")
        assert not result.not_carried and result.state.focus.series_id == "jojo"


@pytest.mark.parametrize(
    "text", ["got any Kochikame?", "any chance you have Boruto", "こち亀の全巻セットって扱ってますか？"]
)
def test_more_ways_of_asking_for_a_title_we_do_not_carry(text: str) -> None:
    assert turn(text, common_pb2.DialogueState()).not_carried


def test_an_opening_name_asked_for_with_please_is_not_carried_but_a_wish_is_not_a_name() -> None:
    assert turn("Blue Giant please", common_pb2.DialogueState(), abstained=True, intent="greeting").not_carried
    for text in ("cheaper please", "completed ones please", "something funny please"):
        assert not turn(text, common_pb2.DialogueState(), abstained=True).not_carried


def test_an_author_named_in_a_question_about_the_focus_keeps_the_focus() -> None:
    focus = turn(
        "ベルセルク何巻まで出てる？", common_pb2.DialogueState(), mentions=[mention("berserk", "ベルセルク")]
    ).state
    miura = mention("berserk", "三浦先生", kind="author", author_series=("berserk", "blue-box"))
    result = turn("三浦先生が亡くなったあとも続いてるんですか", focus, mentions=[miura])
    assert (result.intent, result.state.focus.series_id) == ("product_question", "berserk")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("盾の勇者は話が重いと聞いたので、それ以外でお願いします。", ("the-rising-of-the-shield-hero", "盾の勇者")),
        ("read monster already", ("monster", "monster")),
    ],
)
def test_other_than_those_and_read_already_rule_the_named_title_out(text: str, named: tuple[str, str]) -> None:
    state = turn("any good isekai?", common_pb2.DialogueState(), intent="product_recommendation").state
    result = turn(text, state, mentions=[mention(*named)])
    assert named[0] in result.state.constraints.excluded_series and not result.state.HasField("focus")


def test_the_first_status_said_is_the_one_asked_for() -> None:
    text = "What sci-fi do you have that's still ongoing? I've caught up on all the finished classics lol"
    assert turn(text, common_pb2.DialogueState(), intent="product_recommendation").state.constraints.status == "ongoing"


def test_a_volume_of_a_named_title_is_never_a_request_for_suggestions() -> None:
    natsume = [mention("natsumes-book-of-friends", "夏目友人帳")]
    result = turn(
        "夏目友人帳の30巻を探しています。", common_pb2.DialogueState(), "product_recommendation", mentions=natsume
    )
    assert result.intent == "product_search" and result.state.focus.volume == 30


def test_japanese_likeness_words_ask_for_others_like_the_title() -> None:
    frieren = [mention("frieren", "葬送のフリーレン")]
    text = "『葬送のフリーレン』がすごく好きなんですが、似た雰囲気の作品はありますか？"
    result = turn(text, common_pb2.DialogueState(), "product_recommendation", mentions=frieren)
    assert list(result.state.constraints.like_series_ids) == ["frieren"]


def test_a_genre_ruled_out_after_talking_about_a_series_refines_the_request() -> None:
    state = turn("料理の漫画ある？", common_pb2.DialogueState(), intent="product_recommendation").state
    state = turn(
        "ダンジョン飯ってどんな話？", state, "product_question", mentions=[mention("dm", "ダンジョン飯")]
    ).state
    result = turn(
        "恋愛ものはまだ早いかなと思うので、それ以外でお願いします。", state, "product_question", abstained=True
    )
    assert list(result.state.constraints.excluded_genres) == ["romance"] and result.intent == "product_recommendation"


@pytest.mark.parametrize(
    ("text", "named", "service"),
    [
        ("I'll take Ping Pong in English. how long to get it to Osaka?", ("ping-pong", "Ping Pong"), "shipping_info"),
        ("ok Noragamiにする。JCBで払える？", ("noragami", "Noragami"), "payment"),
        ("やっぱカイジにします。在庫のこと聞きたいので、スタッフの方と話せますか", ("kaiji", "カイジ"), "escalation"),
    ],
)
def test_a_service_question_beside_a_chosen_title_is_that_service(
    text: str, named: tuple[str, str], service: str
) -> None:
    result = turn(text, common_pb2.DialogueState(), intent="product_question", mentions=[mention(*named)])
    assert result.intent == service and result.state.focus.series_id == named[0]


def test_a_damaged_or_wrong_delivery_of_a_numbered_order_is_a_return() -> None:
    text = "my order 249-1234567-7654321 arrived and one of the books is crushed"
    assert turn(text, common_pb2.DialogueState(), intent="order_status").intent == "return_refund"


def test_the_shorter_one_of_two_named_is_chosen_in_order() -> None:
    both = [mention("parasyte", "parasyte"), mention("ajin", "ajin")]
    state = turn("parasyte or ajin?", common_pb2.DialogueState(), intent="product_question", mentions=both).state
    result = turn("shorter one in English please", state, intent="product_recommendation")
    assert result.action == "choose" and superlative("shorter one in English please") == "fewest_volumes"
    assert superlative("じゃあ短いほうから読みます") == "fewest_volumes" and superlative("安いほうにする") == "cheapest"


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        (
            "Knights of Sidonia, is that by the Blame! guy?",
            ("knights-of-sidonia", "Knights of Sidonia"),
            ("blame", "Blame!"),
        ),
        ("プラネテスってヴィンランド・サガの人？", ("planetes", "プラネテス"), ("vinland-saga", "ヴィンランド・サガ")),
        ("is Drifters the same author as Hellsing?", ("drifters", "Drifters"), ("hellsing", "Hellsing")),
    ],
)
def test_a_title_asked_about_through_another_titles_author_is_the_focus(
    text: str, first: tuple[str, str], second: tuple[str, str]
) -> None:
    result = turn(
        text, common_pb2.DialogueState(), intent="product_question", mentions=[mention(*first), mention(*second)]
    )
    assert (result.intent, result.state.focus.series_id) == ("product_question", first[0])


def test_and_another_title_asks_the_same_question_of_it() -> None:
    state = turn(
        "Doraemon how many volumes?",
        common_pb2.DialogueState(),
        "product_question",
        mentions=[mention("d", "Doraemon")],
    ).state
    result = turn("and Glass Mask?", state, intent="product_search", mentions=[mention("glass-mask", "Glass Mask")])
    assert (result.intent, result.state.focus.series_id) == ("product_question", "glass-mask")


def test_wanting_the_manga_of_an_anime_just_watched_is_that_title() -> None:
    haikyu = [mention("haikyu", "haikyu")]
    text = "just finished the Haikyuu anime and I want the manga"
    result = turn(text, common_pb2.DialogueState(), intent="product_recommendation", mentions=haikyu)
    assert result.state.focus.series_id == "haikyu" and not result.state.constraints.like_series_ids


def test_having_read_a_title_long_ago_is_no_reason_to_rule_it_out() -> None:
    joe = [mention("ashita-no-joe", "Ashita no Joe")]
    text = "I read Ashita no Joe as a young man back in the seventies. Do you happen to carry it?"
    result = turn(text, common_pb2.DialogueState(), intent="product_search", mentions=joe)
    assert result.state.focus.series_id == "ashita-no-joe" and not result.state.constraints.excluded_series


def test_romaji_likeness_and_katakana_editions() -> None:
    aot = [mention("attack-on-titan", "shingeki")]
    liked = turn(
        "Shingeki mitai na manga, hoka ni arimasu ka?", common_pb2.DialogueState(), "product_question", mentions=aot
    )
    assert list(liked.state.constraints.like_series_ids) == ["attack-on-titan"]
    spy = [mention("spy-x-family", "スパイファミリー")]
    edition = turn("スパイファミリーのイングリッシュ・エディションってある？", common_pb2.DialogueState(), mentions=spy)
    assert edition.state.focus.language == "en"


@pytest.mark.parametrize(
    "text",
    [
        "Shopping for my 9 year old nephew. He's obsessed with video games. Any suggestions?",
        "今のジャンプで面白いのってどれ？",
    ],
)
def test_an_unsure_request_for_suggestions_is_answered_with_suggestions(text: str) -> None:
    result = turn(text, common_pb2.DialogueState(), intent="product_recommendation", abstained=True)
    assert (result.intent, result.action) == ("product_recommendation", "search")


def test_a_series_ruled_out_stays_out_whatever_the_turn_asks() -> None:
    monster = [mention("monster", "Monster", author_series=())]
    result = turn(
        "already read Monster. something else by him",
        common_pb2.DialogueState(),
        "product_recommendation",
        mentions=monster,
    )
    assert "monster" in result.state.constraints.excluded_series
    conan = [mention("case-closed", "コナン")]
    result = turn("コナンは長すぎるので除外で", common_pb2.DialogueState(), "product_search", mentions=conan)
    assert "case-closed" in result.state.constraints.excluded_series


def test_the_same_question_of_another_series_keeps_asking_for_the_latest_volume() -> None:
    first = turn(
        "ダンダダンの最新刊は？",
        common_pb2.DialogueState(),
        "product_question",
        mentions=[mention("dandadan", "ダンダダン")],
    )
    result = turn("スキビは？", first.state, "product_search", mentions=[mention("skip-beat", "スキビ")])
    assert result.state.focus.series_id == "skip-beat" and result.state.focus.latest_volume


def test_asking_what_to_read_next_after_a_series_is_a_request_not_a_question_about_it() -> None:
    focus = turn(
        "demon slayer finished?",
        common_pb2.DialogueState(),
        "product_question",
        mentions=[mention("demon-slayer", "demon slayer")],
    ).state
    result = turn("whats a good series to read next thats also finished", focus, "product_question")
    assert result.intent == "product_recommendation" and "demon-slayer" in result.state.constraints.excluded_series


def test_a_status_question_about_one_title_likened_to_another_is_about_the_first() -> None:
    both = [mention("claymore", "Claymore"), mention("berserk", "berserk")]
    result = turn(
        "also Claymore - finished? I heard it's like berserk lite",
        common_pb2.DialogueState(),
        "product_recommendation",
        mentions=both,
    )
    assert (result.intent, result.state.focus.series_id) == ("product_question", "claymore")


def test_asking_for_one_of_a_kind_after_a_series_is_a_new_request() -> None:
    focus = turn(
        "ドラえもん何巻？", common_pb2.DialogueState(), "product_question", mentions=[mention("doraemon", "ドラえもん")]
    ).state
    result = turn("多いですね笑 もう少し巻数少なくて子供向けのものは？", focus, "product_question", abstained=True)
    assert result.intent == "product_recommendation" and not result.state.HasField("focus")


def test_looking_for_a_kind_of_manga_is_no_title_we_lack() -> None:
    result = turn("looking for older manga, 80s or 90s classics", common_pb2.DialogueState())
    assert result.intent == "product_recommendation" and not result.not_carried
    assert turn("ザ・ファブル is there?", common_pb2.DialogueState(), intent="out_of_scope", abstained=True).not_carried


def test_a_question_about_the_focus_for_someone_stays_about_it() -> None:
    focus = turn(
        "dorohedoro price?",
        common_pb2.DialogueState(),
        "product_question",
        mentions=[mention("dorohedoro", "dorohedoro")],
    ).state
    result = turn("is it super gory? it's for my 15 yo", focus, "product_question")
    assert (result.intent, result.state.focus.series_id) == ("product_question", "dorohedoro")


def test_one_of_those_shown_is_picked_by_its_place() -> None:
    listed = shown_list("ashita-no-joe", "hajime-no-ippo", "slam-dunk")
    for text, series_id in (
        ("the second one, is it finished?", "hajime-no-ippo"),
        ("2番目の値段", "hajime-no-ippo"),
        ("三つ目のやつ、英語版ある？", "slam-dunk"),
        ("the last one you showed", "slam-dunk"),
        ("number 1 please", "ashita-no-joe"),
        ("では最初にご提案いただいたものの価格を教えてください", "ashita-no-joe"),
    ):
        picked = turn(text, listed, intent="product_recommendation", abstained=True)
        assert picked.state.focus.series_id == series_id and picked.follow_up, text
    # Not a place in the list: a volume, a used copy, a moment.
    for text in ("second volume please", "any second hand copies?", "wait a second"):
        assert turn(text, listed, intent="product_recommendation", abstained=True).state.focus.series_id != (
            "hajime-no-ippo"
        ), text


def test_which_of_those_is_oldest_or_longer_chooses_among_those_shown() -> None:
    listed = shown_list("ashita-no-joe", "hajime-no-ippo")
    for text in ("and the oldest?", "which one came out first?", "古い方は？", "which is longer?"):
        chosen = turn(text, listed, intent="product_recommendation", abstained=True)
        assert chosen.action == "choose" and chosen.intent == "product_question", text
        assert list(chosen.state.constraints.only_series) == ["ashita-no-joe", "hajime-no-ippo"], text
    one = turn("the shorter one, vol 1 in English", listed, intent="product_search")
    assert one.action == "choose" and one.state.focus.volume == 1 and one.state.focus.language == "en"


def test_the_series_in_focus_turned_down_returns_to_the_request_without_it() -> None:
    state = turn("gift for dad, he likes samurai", common_pb2.DialogueState(), intent="product_recommendation").state
    state = turn("vagabond?", state, mentions=[mention("vagabond", "vagabond")]).state
    dropped = turn("oh its not finished? skip it then", state, intent="product_question", abstained=True)
    assert dropped.intent == "product_recommendation" and not dropped.state.HasField("focus")
    assert list(dropped.state.constraints.excluded_series) == ["vagabond"] and dropped.state.topic


def test_whether_a_title_is_like_another_is_a_question_about_it() -> None:
    named = [mention("death-note", "death note"), mention("monster", "monster")]
    for text in ("she liked death note. is monster similar?", "is monster similar to death note?"):
        result = turn(text, common_pb2.DialogueState(), intent="product_recommendation", mentions=named)
        assert result.intent == "product_question" and result.state.focus.series_id == "monster", text


def test_an_edition_ruled_out_names_the_other_and_a_particle_is_no_negation() -> None:
    state = turn(
        "Do you have Blue Lock?", common_pb2.DialogueState(), mentions=[mention("blue-lock", "Blue Lock")]
    ).state
    for text, language in (
        ("he reads english not japanese", "en"),
        ("日本語版じゃなくて", "en"),
        ("no english please", "ja"),
    ):
        assert turn(text, state, abstained=True).state.focus.language == language, text
    romaji = turn("mashuru no eigo-ban arimasu ka", common_pb2.DialogueState(), mentions=[mention("mashle", "mashuru")])
    assert romaji.state.focus.language == "en"


def test_where_to_start_is_the_first_volume_of_the_series_in_focus() -> None:
    state = turn(
        "Do you have Blue Lock?", common_pb2.DialogueState(), mentions=[mention("blue-lock", "Blue Lock")]
    ).state
    for text in ("ok where do i start", "何巻から読めばいい？", "first volumeだけ買いたい"):
        assert turn(text, state, abstained=True).state.focus.volume == 1, text


def test_a_short_follow_up_to_a_shop_question_stays_with_it_despite_a_focus() -> None:
    state = turn("Do you have Frieren?", common_pb2.DialogueState(), mentions=[mention("frieren", "Frieren")]).state
    result = turn(
        "how long does it usually take", state, intent="shipping_info", abstained=True, previous_intent="shipping_info"
    )
    assert result.intent == "shipping_info"
    returned = turn("if I don't like it can I send it back", state, intent="product_question", abstained=True)
    assert returned.intent == "return_refund" and returned.state.focus.series_id == "frieren"


def test_among_those_shown_narrows_the_request_in_force() -> None:
    state = turn("English editions under 1600 yen?", common_pb2.DialogueState(), intent="product_search").state
    state.last_shown.extend(["chihayafuru", "beck", "hana-kimi"])
    narrowed = turn("その中で恋愛もの", state, intent="product_recommendation", abstained=True)
    c = narrowed.state.constraints
    assert narrowed.action == "search" and c.language == "en" and c.max_price_jpy == 1599
    assert list(c.genres) == ["romance"] and list(c.only_series) == ["chihayafuru", "beck", "hana-kimi"]


def test_two_series_compared_after_a_list_are_both_compared() -> None:
    listed = shown_list("magic-knight-rayearth", "that-time-i-got-reincarnated-as-a-slime")
    named = [
        mention("that-time-i-got-reincarnated-as-a-slime", "Slime"),
        mention("the-rising-of-the-shield-hero", "Shield Hero"),
    ]
    result = turn(
        "Slime or Shield Hero — which one has more volumes out?", listed, intent="product_question", mentions=named
    )
    assert set(result.state.constraints.only_series) == {
        "that-time-i-got-reincarnated-as-a-slime",
        "the-rising-of-the-shield-hero",
    }


def test_a_katakana_name_we_lack_asked_after_or_liked_is_said_not_carried() -> None:
    state = turn("サッカー漫画でほかに何ある？", common_pb2.DialogueState(), intent="product_recommendation").state
    for text in ("アオアシは？", "ブラックラグーンみたいな"):
        assert turn(text, state, intent="product_recommendation", abstained=True).not_carried, text
    for text in ("ホラーは？", "ファンタジーは？"):
        assert not turn(text, state, intent="product_recommendation", abstained=True).not_carried, text


def test_a_kind_of_story_asked_for_after_a_series_is_a_new_request() -> None:
    state = turn("Shield Hero ある？", common_pb2.DialogueState(), mentions=[mention("shield", "Shield Hero")]).state
    result = turn("完結した異世界ものってある？", state, intent="product_recommendation")
    assert result.intent == "product_recommendation" and not result.state.HasField("focus")
    assert list(result.state.constraints.genres) == ["isekai"] and result.state.constraints.status == "completed"


def test_a_volume_of_the_older_or_shorter_of_two_named_is_that_volume_of_the_one_chosen() -> None:
    named = [mention("fushigi-yugi", "Fushigi Yugi"), mention("magic-knight-rayearth", "Rayearth")]
    result = turn(
        "the older one of Fushigi Yugi and Rayearth, vol 1 please", common_pb2.DialogueState(), mentions=named
    )
    assert result.action == "choose" and result.state.focus.volume == 1
    assert list(result.state.constraints.only_series) == ["fushigi-yugi", "magic-knight-rayearth"]
    listed = shown_list("slam-dunk", "haikyu")
    shorter = turn("じゃあ短い方の英語版、1巻", listed, intent="product_search")
    assert shorter.action == "choose" and (shorter.state.focus.volume, shorter.state.focus.language) == (1, "en")


def test_a_person_asked_for_wins_and_an_unsure_guess_gives_way_to_the_service_named() -> None:
    upset = turn("届いた本が破れてました。責任者に代わってください", common_pb2.DialogueState(), intent="return_refund")
    assert upset.intent == "escalation"
    after = turn("can i at least get a replacement", common_pb2.DialogueState(), intent="payment", abstained=True)
    assert after.intent == "return_refund"
    still = turn(
        "未開封です", common_pb2.DialogueState(), intent="order_status", abstained=True, previous_intent="return_refund"
    )
    assert still.intent == "return_refund"


def test_a_kind_of_story_added_is_wanted_together_with_the_one_in_force() -> None:
    start = turn("any good romance manga?", common_pb2.DialogueState(), intent="product_recommendation").state
    for text, kind in (
        ("something funny too", "comedy"),
        ("school setting would be nice", "school"),
        ("学園ものがいい", "school"),
    ):
        state = turn(text, start, intent="product_recommendation", abstained=True).state
        assert list(state.constraints.genres) == ["romance"] and list(state.constraints.all_genres) == [kind], text
        assert text in state.topic, text
    switched = turn("ホラーは？", state, intent="product_recommendation", abstained=True)
    assert list(switched.state.constraints.genres) == ["horror"]


def test_a_follow_up_after_a_shop_question_and_a_range_of_volumes() -> None:
    shipping = turn(
        "how long does it take", common_pb2.DialogueState(), intent="out_of_scope", previous_intent="shipping_info"
    )
    assert shipping.intent == "shipping_info"
    short = turn("short horror manga, like 1-3 volumes", common_pb2.DialogueState(), intent="product_recommendation")
    assert short.state.constraints.max_volumes == 3


def test_learners_romaji_and_fillers_are_read_as_meant() -> None:
    state = turn(
        "do u have kimetsu no yaiba?",
        common_pb2.DialogueState(),
        mentions=[mention("demon-slayer", "kimetsu no yaiba")],
    ).state
    finished = turn("is it kanketsu? like, finished", state, intent="product_recommendation", abstained=True)
    assert finished.intent == "product_question" and finished.state.focus.series_id == "demon-slayer"
    lacked = turn(
        "Kimi wa Houkago Insomnia arimasu ka?", common_pb2.DialogueState(), intent="product_search", abstained=True
    )
    assert lacked.not_carried
    asked = turn(
        "進撃の巨人は全巻そろっていますか？",
        common_pb2.DialogueState(),
        mentions=[mention("attack-on-titan", "進撃の巨人")],
    )
    assert asked.state.focus.series_id == "attack-on-titan" and not asked.state.constraints.excluded_series
    japan = turn("and is volume 15 out in Japan yet?", state, abstained=True)
    assert (japan.state.focus.language, japan.state.focus.volume) == ("ja", 15)


def test_older_readers_phrasings() -> None:
    state = turn(
        "音楽ものでクラシックの漫画ってありますか", common_pb2.DialogueState(), intent="product_recommendation"
    ).state
    read = turn(
        "のだめカンタービレは昔読みました",
        state,
        intent="product_question",
        mentions=[mention("nodame", "のだめカンタービレ")],
    )
    assert "nodame" in read.state.constraints.excluded_series and read.intent == "product_recommendation"
    for text in ("YAWARA!ってありますか", "火の鳥はないんですか", "サザエさんは？"):
        assert turn(text, common_pb2.DialogueState(), intent="product_search", abstained=True).not_carried, text
    focus = turn(
        "鬼滅の刃を全巻まとめて買いたい", common_pb2.DialogueState(), mentions=[mention("demon-slayer", "鬼滅の刃")]
    ).state
    confirm = turn("23巻で完結でしたよね", focus, intent="product_recommendation", abstained=True)
    assert confirm.state.focus.series_id == "demon-slayer" and not confirm.state.constraints.HasField("max_volumes")
    edition = turn("完全版というのはありますか？", focus, intent="product_search")
    assert not edition.not_carried and edition.state.focus.series_id == "demon-slayer"


def test_a_kind_of_story_while_shopping_is_a_refinement_whatever_the_guess() -> None:
    state = turn("completed manga in English please", common_pb2.DialogueState(), intent="product_recommendation").state
    result = turn("drama please, not action", state, intent="escalation")
    assert result.intent == "product_recommendation" and list(result.state.constraints.excluded_genres) == ["action"]


def test_an_unsure_product_guess_is_answered_not_asked_back() -> None:
    state = turn("Do you have Kingdom?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")]).state
    about = turn("hmm and what do readers usually say", state, intent="product_question", abstained=True)
    assert about.action == "search" and about.state.focus.series_id == "kingdom"
    alone = turn("the manga with the cat bus", common_pb2.DialogueState(), intent="product_search", abstained=True)
    assert alone.action == "choose"  # one title told: the one found is the one meant
    assert turn("I have a question", common_pb2.DialogueState(), intent="greeting", abstained=True).action == "clarify"


def test_an_edition_wanted_stays_wanted_and_weather_after_shipping_is_no_shipping() -> None:
    state = turn("romance manga", common_pb2.DialogueState(), intent="product_recommendation").state
    state = turn("english で読みたい", state, intent="product_recommendation", abstained=True).state
    named = turn("fushigi yugi の vol 1", state, mentions=[mention("fushigi-yugi", "fushigi yugi")])
    assert (named.state.focus.language, named.state.focus.volume) == ("en", 1)
    weather = turn("今日の天気は？", common_pb2.DialogueState(), intent="out_of_scope", previous_intent="shipping_info")
    assert weather.intent == "out_of_scope"
    weekend = turn(
        "something I can finish in a weekend",
        common_pb2.DialogueState(),
        intent="account",
        abstained=True,
        previous_intent="account",
    )
    assert weekend.reason != "continues the previous question"


def test_a_series_picked_by_place_and_turned_down_returns_to_the_request() -> None:
    state = turn("any good romance manga?", common_pb2.DialogueState(), intent="product_recommendation").state
    state.last_shown.extend(["ranma-half", "horimiya", "my-love-story"])
    picked = turn("the second one, is it in english?", state, intent="product_question").state
    assert picked.focus.series_id == "horimiya"
    dropped = turn("skip it, something else", picked, intent="product_recommendation", abstained=True)
    assert dropped.intent == "product_recommendation" and dropped.state.topic == "any good romance manga?"
    assert list(dropped.state.constraints.excluded_series) == ["horimiya"]


def test_forgetting_the_series_for_a_new_kind_of_story_asks_for_that_kind() -> None:
    state = turn(
        "shingeki no kyojin", common_pb2.DialogueState(), mentions=[mention("attack-on-titan", "shingeki no kyojin")]
    )
    new = turn("actually, forget that - any good cooking manga?", state.state, intent="product_recommendation")
    assert new.intent == "product_recommendation" and list(new.state.constraints.genres) == ["cooking"]
    later = turn("completed ones only", new.state, intent="product_search", abstained=True)
    assert list(later.state.constraints.genres) == ["cooking"] and later.state.constraints.status == "completed"


@pytest.mark.parametrize(
    ("lifted", "cleared"),
    [
        ("actually any price is ok, but I want it in English", "max_price_jpy"),
        ("値段は気にしないです", "max_price_jpy"),
        ("longer is fine now", "max_volumes"),
        ("長くてもいいです", "max_volumes"),
        ("and ongoing too", "status"),
        ("連載中のでもいいよ", "status"),
    ],
)
def test_a_limit_lifted_goes_and_the_rest_of_the_request_stays(lifted: str, cleared: str) -> None:
    state = turn(
        "completed sports manga under 800 yen, 10 volumes or less",
        common_pb2.DialogueState(),
        intent="product_recommendation",
    ).state
    assert state.constraints.HasField(cleared)
    after = turn(lifted, state, intent="product_question", abstained=True)
    assert after.intent == "product_recommendation" and list(after.state.constraints.genres) == ["sports"]
    assert not after.state.constraints.HasField(cleared)


def test_loving_a_titles_anime_and_asking_about_its_manga_is_a_question_about_it() -> None:
    aot = mention("attack-on-titan", "attack on titan")
    asked = turn(
        "My husband loved the Attack on Titan anime. Is the manga finished?",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=[aot],
    )
    assert asked.intent == "product_question" and asked.state.focus.series_id == "attack-on-titan"
    gintama = turn(
        "夫が銀魂のアニメが好きでした。漫画は全何巻ですか？",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=[mention("gintama", "銀魂")],
    )
    assert gintama.state.focus.series_id == "gintama"
    similar = turn("同じように笑えて完結している作品はありますか？", gintama.state, intent="product_recommendation")
    assert list(similar.state.constraints.like_series_ids) == ["gintama"]
    liked = turn(
        "My son loved the Haikyuu anime, anything similar?",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=[mention("haikyu", "haikyuu")],
    )
    assert list(liked.state.constraints.like_series_ids) == ["haikyu"]


def test_the_status_asked_for_wins_over_one_remarked_on() -> None:
    asked = turn(
        "まだ続いているんですね。完結しているコメディでおすすめはありますか？",
        common_pb2.DialogueState(),
        intent="product_recommendation",
    )
    assert asked.state.constraints.status == "completed"
    first = turn(
        "still ongoing? I've caught up on all the finished classics",
        common_pb2.DialogueState(),
        intent="product_recommendation",
    )
    assert first.state.constraints.status == "ongoing"


@pytest.mark.parametrize(
    ("text", "cap"),
    [
        ("a complete story that's only one or two volumes", 2),
        ("Ten volumes max.", 10),
        ("no more than five volumes", 5),
    ],
)
def test_volume_limits_in_words(text: str, cap: int) -> None:
    state = turn("romance manga please", common_pb2.DialogueState(), intent="product_recommendation").state
    assert turn(text, state, intent="product_recommendation").state.constraints.max_volumes == cap


def test_turning_the_series_down_for_something_else_and_texting_shorthand() -> None:
    state = turn("rent a gf vol 1", common_pb2.DialogueState(), mentions=[mention("rent-a-girlfriend", "rent a gf")])
    down = turn("nah smth less cringe 😭", state.state, intent="product_recommendation", abstained=True)
    assert down.intent == "product_recommendation"
    assert list(down.state.constraints.excluded_series) == ["rent-a-girlfriend"]
    focus = turn(
        "chainsaw man in english", common_pb2.DialogueState(), mentions=[mention("chainsaw-man", "chainsaw man")]
    )
    same = turn("anything else by the same guy", focus.state, intent="product_recommendation")
    assert list(same.state.constraints.by_authors_of) == ["chainsaw-man"]
    scarier = turn("smth like it but scarier", focus.state, intent="product_recommendation")
    assert list(scarier.state.constraints.like_series_ids) == ["chainsaw-man"]
    assert list(scarier.state.constraints.genres) == ["horror"]


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("How do I update the shipping address saved on my account?", "account"),
        ("Do you sell gift cards? I'd like my grandson to pick his own manga.", "payment"),
    ],
)
def test_a_service_named_in_so_many_words_beside_a_series_in_focus(text: str, service: str) -> None:
    state = turn("mashle vol 1", common_pb2.DialogueState(), mentions=[mention("mashle", "mashle")]).state
    assert turn(text, state, intent="product_search", abstained=True).intent == service


def test_who_a_manga_is_for_is_no_title_and_a_latin_manga_we_lack_is_said_so() -> None:
    kids = turn("小学生の子供向けの漫画ありますか？", common_pb2.DialogueState(), intent="product_recommendation")
    assert not kids.not_carried
    sao = turn("Sword Art Online の manga ある?", common_pb2.DialogueState())
    assert sao.not_carried


def test_a_service_asked_first_beats_an_unsure_product_guess_and_a_kind_asked_next_is_a_request() -> None:
    gift = turn(
        "Do you sell gift cards? I'd like my grandson to pick his own manga.",
        common_pb2.DialogueState(),
        intent="product_search",
        abstained=True,
    )
    assert gift.intent == "payment"
    choose = turn(
        "Okay, then help me choose. He's 12 and loves ninjas.",
        gift.state,
        intent="out_of_scope",
        abstained=True,
        previous_intent="payment",
    )
    assert choose.intent == "product_recommendation" and list(choose.state.constraints.genres) == ["action"]


def test_a_limit_changed_while_a_series_is_in_focus_goes_back_to_the_request_it_came_up_in() -> None:
    state = turn(
        "recommend me a horror manga, completed, 5 volumes or fewer",
        common_pb2.DialogueState(),
        intent="product_recommendation",
    ).state
    named = turn(
        "Uzumaki sounds good. how many volumes in English?",
        state,
        intent="product_question",
        mentions=[mention("uzumaki", "uzumaki", start=0)],
    ).state
    asked = turn("price?", named, intent="product_question").state
    assert asked.focus.series_id == "uzumaki"
    back = turn("actually longer is fine now, and ongoing too", asked, intent="product_question", abstained=True)
    assert back.intent == "product_recommendation" and not back.state.HasField("focus")
    assert list(back.state.constraints.genres) == ["horror"]
    assert not back.state.constraints.HasField("max_volumes") and not back.state.constraints.HasField("status")
    mystery = turn(
        "1冊1000円以下で読める完結済みのミステリーを探しています。",
        common_pb2.DialogueState(),
        intent="product_recommendation",
    ).state
    boys = turn(
        "『20世紀少年』は何巻ですか？",
        mystery,
        intent="product_question",
        mentions=[mention("20th-century-boys", "20世紀少年", start=1)],
    ).state
    shorter = turn("ちょっと長いですね。10巻以内のものはありますか？", boys, intent="product_search")
    c = shorter.state.constraints
    assert (list(c.genres), c.status, c.max_volumes, c.max_price_jpy) == (["mystery"], "completed", 10, 1000)
    still = turn("is it finished?", named, intent="product_question")
    assert still.state.focus.series_id == "uzumaki"  # a question about the series, not the list


def test_a_kind_asked_beside_a_series_in_focus_asks_for_others_unless_it_points_at_it() -> None:
    akira = turn("akira english edition?", common_pb2.DialogueState(), mentions=[mention("akira", "akira")]).state
    others = turn("hmm pricey. any sci-fi under 1000 yen a volume?", akira)
    assert others.intent == "product_recommendation" and list(others.state.constraints.genres) == ["sci-fi"]
    sports = turn("then a sports one that IS finished?", akira, intent="product_question")
    assert sports.intent == "product_recommendation" and sports.state.constraints.status == "completed"
    about = turn("does it have any romance?", akira, intent="product_question")
    assert about.intent == "product_question" and about.state.focus.series_id == "akira"
    like = turn("anything else like that?", akira, intent="product_recommendation")
    assert list(like.state.constraints.like_series_ids) == ["akira"]


def test_bare_questions_after_a_list_ask_about_the_first_series_shown() -> None:
    state = turn(
        "ほのぼのした日常系の漫画ありますか", common_pb2.DialogueState(), intent="product_recommendation"
    ).state
    state.last_shown.extend(["girls-last-tour", "after-the-rain"])
    for text in ("完結してますか？", "1冊いくらですか？", "how much?"):
        asked = turn(text, state, intent="product_question")
        assert asked.intent == "product_question" and asked.state.focus.series_id == "girls-last-tour", text
    refined = turn("完結してるのある？", state, intent="product_question")
    assert refined.intent == "product_recommendation" and refined.state.constraints.status == "completed"
    others = turn("それは前に読んだ。別のは？", state, intent="product_question")
    assert others.intent == "product_recommendation" and list(others.state.constraints.genres) == ["slice-of-life"]
    assert {"girls-last-tour", "after-the-rain"} <= set(others.state.constraints.excluded_series)


def test_volume_ranges_whose_work_and_authors_ruled_out() -> None:
    naruto = turn("naruto in english", common_pb2.DialogueState(), mentions=[mention("naruto", "naruto")]).state
    for text, first in (("1巻から3巻までほしいです", 1), ("vols 4 to 6 please", 4)):
        bought = turn(text, naruto, intent="product_search")
        assert bought.state.focus.volume == first and not bought.state.constraints.HasField("max_volumes"), text
    samurai = turn(
        "the elusive samurai vol 1",
        common_pb2.DialogueState(),
        mentions=[mention("the-elusive-samurai", "the elusive samurai", start=4)],
    ).state
    whose = turn(
        "is it by the Assassination Classroom guy?",
        samurai,
        mentions=[mention("assassination-classroom", "assassination classroom", start=13)],
    )
    assert whose.intent == "product_question" and whose.state.focus.series_id == "the-elusive-samurai"
    horror = turn("short horror manga please", common_pb2.DialogueState(), intent="product_recommendation").state
    ito = mention("uzumaki", "junji ito", kind="author", start=15, author_series=("uzumaki", "tomie", "gyo"))
    not_by = turn("anything not by Junji Ito?", horror, intent="product_recommendation", mentions=[ito])
    assert list(not_by.state.constraints.genres) == ["horror"]
    assert {"uzumaki", "tomie", "gyo"} <= set(not_by.state.constraints.excluded_series)
    assert not not_by.state.constraints.only_series


def test_bare_property_questions_stay_with_the_focus_and_collectors_keep_the_author() -> None:
    csm = turn(
        "chainsaw man vol 1", common_pb2.DialogueState(), mentions=[mention("chainsaw-man", "chainsaw man")]
    ).state
    for text in ("グロい？", "怖い？ホラー苦手なんだけど"):
        asked = turn(text, csm, intent="product_question")
        assert asked.intent == "product_question" and asked.state.focus.series_id == "chainsaw-man", text
    text = "伊藤潤二先生の作品を集めています。『うずまき』と『富江』は持っているので、それ以外でこちらにあるものを教えてください。"
    ito = mention("gyo", "伊藤潤二", kind="author", start=0, author_series=("uzumaki", "tomie", "gyo"))
    collected = turn(
        text,
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=[ito, mention("uzumaki", "うずまき", start=18), mention("tomie", "富江", start=25)],
    )
    assert "gyo" in collected.state.constraints.only_series


def test_only_a_name_is_a_product_turn_whatever_the_classifier_made_of_its_words() -> None:
    sakura = turn(
        "カードキャプターさくら",
        common_pb2.DialogueState(),
        intent="payment",
        mentions=[mention("cardcaptor-sakura", "カードキャプターさくら")],
    )
    assert sakura.intent == "product_search" and sakura.state.focus.series_id == "cardcaptor-sakura"
    assert turn("can I pay by card?", common_pb2.DialogueState(), intent="payment").intent == "payment"
    human = turn(
        "human と話したい",
        common_pb2.DialogueState(),
        intent="escalation",
        mentions=[mention("ajin", "human", kind="partial")],
    )
    assert human.intent == "escalation"


def test_a_new_series_asked_its_own_question_keeps_that_question() -> None:
    searched = turn("あとBorutoある？", common_pb2.DialogueState())
    # 「じゃあNarutoは何巻？」 after another search asks how many volumes, not whether it is in stock.
    count = turn(
        "じゃあNarutoは何巻？", searched.state, intent="product_question", mentions=[mention("naruto", "Naruto")]
    )
    assert (count.intent, count.state.focus.series_id) == ("product_question", "naruto")
    bare = turn("ワンピースの最新刊いくら？", common_pb2.DialogueState(), mentions=[mention("one-piece", "ワンピース")])
    again = turn(
        "ナルトは？", bare.state, intent="out_of_scope", abstained=True, mentions=[mention("naruto", "ナルト")]
    )
    assert again.intent == bare.intent and again.state.focus.latest_volume


def test_wanting_to_read_is_no_likeness_and_a_wished_for_series_is_itself() -> None:
    works = ("monster", "pluto")
    first = turn(
        "浦沢直樹さんの作品を読んでみたいのですが、どれを扱っていますか？",
        common_pb2.DialogueState(),
        intent="product_question",
        mentions=[mention("monster", "浦沢直樹", kind="author", author_series=works)],
    )
    assert not first.state.constraints.like_series_ids
    assert set(first.state.constraints.only_series) == set(works)
    kirby = turn(
        "ゲームが好きな子なので、カービィの漫画があればそれがいいです。",
        first.state,
        intent="out_of_scope",
        mentions=[mention("kirby-manga-mania", "カービィ")],
    )
    assert kirby.intent in ("product_search", "product_question")
    assert kirby.state.focus.series_id == "kirby-manga-mania" and not kirby.state.constraints.like_series_ids


def test_collecting_up_to_a_volume_is_that_series_not_a_length_limit() -> None:
    first = turn(
        "ガラスの仮面ってまだ完結してないんですよね",
        common_pb2.DialogueState(),
        intent="product_question",
        mentions=[mention("glass-mask", "ガラスの仮面")],
    )
    collect = turn("49巻まで揃えたいです", first.state)
    assert collect.state.focus.series_id == "glass-mask"
    assert not collect.state.constraints.HasField("max_volumes")
    # A run of its volumes, however written, is that series too: 「1〜5巻だけ買ったら」, 「1-3巻」.
    for text in ("1〜5巻だけ買ったらいくら？", "1-3巻ってまだある？", "vols 1 to 5 how much"):
        some = turn(text, first.state)
        assert (some.intent, some.state.focus.series_id) == ("product_question", "glass-mask"), text
        assert not some.state.constraints.HasField("max_volumes"), text
    # 「10巻までで完結するのがほしい」 is still a length limit.
    short = turn("10巻までで完結するのがほしい", common_pb2.DialogueState(), intent="product_recommendation")
    assert short.state.constraints.max_volumes == 10


def test_a_bare_number_after_a_title_or_an_edition_names_a_volume() -> None:
    first = turn("one piece 108", common_pb2.DialogueState(), mentions=[mention("one-piece", "one piece")])
    assert (first.state.focus.series_id, first.state.focus.volume) == ("one-piece", 108)
    english = turn("ok then english 107", first.state, intent="product_question")
    assert (english.state.focus.language, english.state.focus.volume) == ("en", 107)
    counted = turn("naruto 72 volumes right?", common_pb2.DialogueState(), mentions=[mention("naruto", "naruto")])
    assert not counted.state.focus.HasField("volume")
    # 「全27巻で完結でしたっけ」 checks a fact about the series in focus: no volume, no limit.
    fact = turn("全27巻で完結でしたっけ", first.state, intent="product_recommendation")
    assert fact.intent == "product_question" and fact.state.focus.series_id == "one-piece"
    assert not fact.state.constraints.HasField("max_volumes") and fact.state.focus.volume == 108


def test_shorter_or_cheaper_than_the_series_in_focus_goes_back_to_its_request() -> None:
    asked = turn("sports manga please", common_pb2.DialogueState(), intent="product_recommendation")
    shown = common_pb2.DialogueState()
    shown.CopyFrom(asked.state)
    shown.last_shown.extend(["hajime-no-ippo", "haikyu"])
    count = turn(
        "ippo is how many volumes??",
        shown,
        intent="product_question",
        mentions=[mention("hajime-no-ippo", "ippo", kind="alias")],
    )
    shorter = turn("lmao too many. something shorter", count.state, intent="product_recommendation")
    assert shorter.reason == "back to the request in force"
    assert list(shorter.state.constraints.genres) == ["sports"]
    assert "hajime-no-ippo" in shorter.state.constraints.excluded_series
    assert superlative("lmao too many. something shorter") == "fewest_volumes"
    assert superlative("shorter than 10 volumes please") == ""


def test_an_order_not_yet_placed_asks_about_delivery_not_an_order() -> None:
    hypothetical = turn(
        "北海道なんですけど、注文したらいつ届きますか？", common_pb2.DialogueState(), intent="order_status"
    )
    assert hypothetical.intent == "shipping_info" and not hypothetical.state.pending
    placed_order = turn("注文した本がまだ届きません", common_pb2.DialogueState(), intent="order_status")
    assert placed_order.state.pending == "order_id"


def test_titles_ruled_out_by_no_known_or_being_read() -> None:
    asked = turn("I want a long finished shonen to binge", common_pb2.DialogueState(), intent="product_recommendation")
    ruled = turn(
        "no naruto or bleach, read those",
        asked.state,
        mentions=[mention("naruto", "naruto"), mention("bleach", "bleach")],
    )
    assert set(ruled.state.constraints.excluded_series) >= {"naruto", "bleach"}
    assert not ruled.state.constraints.only_series
    for text, sid, name in [
        ("コナンは除いて", "case-closed", "コナン"),
        ("けいおんは知ってる", "k-on", "けいおん"),
        ("バクマン。以外で", "bakuman", "バクマン。"),
    ]:
        out = turn(text, asked.state, intent="payment", abstained=True, mentions=[mention(sid, name)])
        assert sid in out.state.constraints.excluded_series, text
    known = turn("けいおんは知ってる？", asked.state, intent="product_question", mentions=[mention("k-on", "けいおん")])
    assert "k-on" not in known.state.constraints.excluded_series


def test_likeness_read_after_hedges_and_the_edition_kept() -> None:
    after = turn(
        "what should I read after attack on titan",
        common_pb2.DialogueState(),
        mentions=[mention("attack-on-titan", "attack on titan")],
    )
    assert list(after.state.constraints.like_series_ids) == ["attack-on-titan"]
    hedged = turn(
        "I want something like Death Note but shorter, like 10 volumes or less",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=[mention("death-note", "Death Note")],
    )
    assert (
        list(hedged.state.constraints.like_series_ids) == ["death-note"] and hedged.state.constraints.max_volumes == 10
    )
    japanese = turn(
        "yotsuba! how much is vol 1 in japanese", common_pb2.DialogueState(), mentions=[mention("yotsuba", "yotsuba")]
    )
    simple = turn("anything else that simple?", japanese.state, intent="product_recommendation")
    assert list(simple.state.constraints.like_series_ids) == ["yotsuba"] and simple.state.constraints.language == "ja"


def test_a_detail_of_a_product_asked_in_a_conversation_is_a_question_and_a_lost_order_asks_its_number() -> None:
    asked = turn("recommend isekai", common_pb2.DialogueState(), intent="product_recommendation")
    price = turn("fushigi yugi english vol 1 price?", asked.state, mentions=[mention("fushigi-yugi", "fushigi yugi")])
    assert price.intent == "product_question" and price.state.focus.series_id == "fushigi-yugi"
    alone = turn(
        "ワンピースの最新刊いくら？", common_pb2.DialogueState(), mentions=[mention("one-piece", "ワンピース")]
    )
    assert alone.intent == "product_question"  # its price is a fact asked of it, on its own too
    buying = turn(
        "ワンピースの最新刊ください、いくら？",
        common_pb2.DialogueState(),
        mentions=[mention("one-piece", "ワンピース")],
    )
    assert buying.intent == "product_search"  # a purchase, its price asked on the way
    lost = turn(
        "my oshi no ko 16 never arrived",
        common_pb2.DialogueState(),
        abstained=True,
        mentions=[mention("oshi-no-ko", "oshi no ko")],
    )
    assert (lost.intent, lost.state.pending) == ("order_status", "order_id")
    torn = turn(
        "torn between blue box and skip and loafer",
        common_pb2.DialogueState(),
        intent="return_refund",
        mentions=[mention("blue-box", "blue box"), mention("skip-and-loafer", "skip and loafer")],
    )
    assert torn.intent in ("product_search", "product_recommendation", "product_question")
    alike = turn(
        "Is Blue Exorcist anything like it? how many volumes",
        asked.state,
        intent="product_question",
        mentions=[mention("blue-exorcist", "Blue Exorcist")],
    )
    assert alike.state.focus.series_id == "blue-exorcist" and not alike.state.constraints.like_series_ids


def test_an_aspect_ruled_out_keeps_the_genre_and_a_kind_chosen_or_another_subject_leaves_the_thread() -> None:
    horror = turn(
        "ホラー漫画で夜眠れなくなるくらい怖いやつ", common_pb2.DialogueState(), intent="product_recommendation"
    )
    no_gore = turn("グロいのは無理、じわじわくる系で", horror.state, intent="product_recommendation", abstained=True)
    assert (
        list(no_gore.state.constraints.genres) == ["horror"]
        and "horror" not in no_gore.state.constraints.excluded_genres
    )
    kid = turn(
        "小学生の息子に漫画をプレゼントしたいんですけど", common_pb2.DialogueState(), intent="product_recommendation"
    )
    assert list(kid.state.constraints.excluded_genres) == ["horror"]
    glass = turn(
        "ガラスの仮面ってまだ完結してないんですよね",
        common_pb2.DialogueState(),
        intent="product_question",
        mentions=[mention("glass-mask", "ガラスの仮面")],
    )
    chosen = turn("やっぱり完結してる演劇とか芸能ものにしようかな", glass.state, intent="product_question")
    assert not chosen.state.focus.series_id and chosen.state.constraints.status == "completed"
    shipping = turn("what about cash on delivery, i'm in osaka", common_pb2.DialogueState(), intent="payment")
    ramen = turn(
        "unrelated but whats a good ramen place in shibuya lol",
        shipping.state,
        intent="out_of_scope",
        abstained=True,
        previous_intent="payment",
    )
    assert ramen.intent == "out_of_scope"
    drawn = turn(
        "can you draw me a picture of naruto",
        common_pb2.DialogueState(),
        intent="out_of_scope",
        abstained=True,
        mentions=[mention("naruto", "naruto")],
    )
    assert drawn.intent == "out_of_scope"


def test_an_order_by_its_last_digits_and_a_product_asked_before_a_service() -> None:
    digits = turn("whats the status on the one ending in 6778", common_pb2.DialogueState(), intent="product_question")
    assert digits.intent == "order_status"
    kingdom = turn(
        "キングダムって今何巻まで出てますか",
        common_pb2.DialogueState(),
        intent="product_question",
        mentions=[mention("kingdom", "キングダム")],
    )
    english = turn("英語版ってあります？海外の友達に送りたくて", kingdom.state, intent="shipping_info", abstained=True)
    assert english.intent in ("product_question", "product_search") and english.state.focus.language == "en"


def test_a_tone_said_with_a_kind_wants_both_and_a_format_asked_is_about_the_focus() -> None:
    music = turn("manga about bands or music?", common_pb2.DialogueState(), intent="product_recommendation")
    funny = turn("lighter and funny pls, nothing depressing", music.state, intent="product_recommendation")
    assert (list(funny.state.constraints.genres), list(funny.state.constraints.all_genres)) == (["music"], ["comedy"])
    history = turn("any other comedy with history in it", common_pb2.DialogueState(), intent="product_recommendation")
    assert (list(history.state.constraints.genres), list(history.state.constraints.all_genres)) == (
        ["historical"],
        ["comedy"],
    )
    either = turn("comedy or historical manga", common_pb2.DialogueState(), intent="product_recommendation")
    assert not either.state.constraints.all_genres
    one_piece = turn(
        "ワンピっていま何巻まで出てる？",
        common_pb2.DialogueState(),
        intent="product_question",
        mentions=[mention("one-piece", "ワンピ", kind="alias")],
    )
    digital = turn("電子書籍版ってあるの？", one_piece.state)
    assert not digital.not_carried and digital.state.focus.series_id == "one-piece"
    cheap = turn("cheap manga under 500 yen?", common_pb2.DialogueState(), intent="product_recommendation")
    kids = turn("anything like that for little kids?", cheap.state, intent="product_recommendation")
    assert kids.state.constraints.max_price_jpy == 499 and "horror" in kids.state.constraints.excluded_genres


def test_those_narrowed_by_a_plural_question_and_whether_the_focus_is_like_another() -> None:
    wanted = turn(
        "can you recommend a romance manga under 500 yen", common_pb2.DialogueState(), intent="product_recommendation"
    )
    listed = common_pb2.DialogueState()
    listed.CopyFrom(wanted.state)
    listed.last_shown.extend(["kimi-ni-todoke", "nana"])
    finished = turn("which of those are already finished", listed, abstained=True)
    assert finished.reason == "narrows the series shown"
    assert finished.state.constraints.max_price_jpy == 499 and finished.state.constraints.status == "completed"
    claymore = turn("claymore complete set", common_pb2.DialogueState(), mentions=[mention("claymore", "claymore")])
    alike = turn(
        "is it similar to berserk?",
        claymore.state,
        intent="product_recommendation",
        mentions=[mention("berserk", "berserk")],
    )
    assert alike.intent == "product_question" and alike.state.focus.series_id == "claymore"
    zombies = common_pb2.DialogueState()
    zombies.CopyFrom(turn("zombie manga?", common_pb2.DialogueState(), intent="product_recommendation").state)
    zombies.last_shown.extend(["zom-100", "mieruko-chan"])
    scary = turn("is it scary or funny", zombies, intent="product_question")
    assert scary.intent == "product_question" and scary.state.focus.series_id == "zom-100"


def test_not_too_long_caps_loosely_and_a_kind_after_a_narrowed_list_searches_the_catalog() -> None:
    assert cues("学園もので、あんまり長くないやつ").max_volumes == 20 and cues("short ones").max_volumes == 10
    assert cues("nah too long. give me a mystery that ends in under 10").max_volumes == 9
    assert cues("under 10 years old").max_volumes is None
    cheap = turn("500円以下で買える漫画ってある？", common_pb2.DialogueState(), intent="product_recommendation")
    listed = common_pb2.DialogueState()
    listed.CopyFrom(cheap.state)
    listed.last_shown.extend(["chibi-maruko-chan", "bakuman"])
    finished = turn("その中で完結してるやつ", listed, intent="product_question")
    assert list(finished.state.constraints.only_series) == ["chibi-maruko-chan", "bakuman"]
    romance = turn("恋愛ものがいい", finished.state, intent="product_recommendation")
    c = romance.state.constraints
    assert not c.only_series and (c.max_price_jpy, c.status, list(c.genres)) == (500, "completed", ["romance"])
    named = turn(
        "Planetes or Astra Lost in Space, which is cheaper in English?",
        common_pb2.DialogueState(),
        mentions=[
            mention("astra-lost-in-space", "Astra Lost in Space", start=12),
            mention("planetes", "Planetes", start=0),
        ],
    )
    assert list(named.state.constraints.only_series) == ["planetes", "astra-lost-in-space"]


def focused(series_id: str, name: str, text: str | None = None) -> common_pb2.DialogueState:
    """The state after a customer named one series (shown alone)."""
    state = turn(text or name, common_pb2.DialogueState(), mentions=[mention(series_id, name)]).state
    state.last_shown.append(series_id)
    return state


def test_others_like_the_series_in_focus_asked_with_a_kind_of_story_or_for_its_fans() -> None:
    jjk = focused("jujutsu-kaisen", "呪術", "呪術って完結した？")
    alike = turn("似たような感じでホラー要素なしのやつある？", jjk, intent="product_recommendation")
    assert alike.intent == "product_recommendation" and list(alike.state.constraints.like_series_ids) == [
        "jujutsu-kaisen"
    ]
    assert list(alike.state.constraints.excluded_genres) == ["horror"] and not alike.state.constraints.only_series
    oshi = focused("oshi-no-ko", "推しの子")
    vibe = turn("similar vibe のやつ他にある？アイドルもの以外で", oshi, intent="product_recommendation")
    assert list(vibe.state.constraints.like_series_ids) == ["oshi-no-ko"] and not vibe.state.constraints.only_series
    fans = turn(
        "鬼滅好きにおすすめのやつある？",
        focused("demon-slayer", "鬼滅"),
        intent="product_recommendation",
        mentions=[mention("demon-slayer", "鬼滅")],
    )
    assert list(fans.state.constraints.like_series_ids) == ["demon-slayer"]


def test_a_fact_compared_is_a_question_and_an_edition_of_the_one_series_shown_is_no_choice() -> None:
    mecha = turn("any good mecha manga", common_pb2.DialogueState(), intent="product_recommendation")
    versus = turn(
        "evangelion vs gundam the origin, which has more volumes in english?",
        mecha.state,
        mentions=[
            mention("neon-genesis-evangelion", "evangelion"),
            mention("mobile-suit-gundam-the-origin", "gundam the origin"),
        ],
    )
    assert versus.intent == "product_question"
    edition = turn("英語版のほうが巻数少ないの？", focused("jojos-bizarre-adventure", "ジョジョ"))
    assert edition.intent == "product_question" and edition.action == "search"
    assert (edition.state.focus.series_id, edition.state.focus.language) == ("jojos-bizarre-adventure", "en")


def test_the_one_with_a_description_picks_among_those_shown() -> None:
    picked = turn("the one with the single dad and his kid", shown("food-wars", "sweetness-and-lightning"))
    assert picked.action == "choose" and list(picked.state.constraints.only_series) == [
        "food-wars",
        "sweetness-and-lightning",
    ]


def test_an_authors_other_works_leave_out_those_already_talked_about() -> None:
    pair = shown("monster", "pluto", intent="product_search")
    pair.constraints.only_series.extend(["monster", "pluto"])
    urasawa = mention(
        "monster", "urasawa", kind="author", author_series=("20th-century-boys", "master-keaton", "monster", "pluto")
    )
    more = turn("what else did urasawa do that you carry", pair, mentions=[urasawa])
    assert list(more.state.constraints.only_series) == ["20th-century-boys", "master-keaton"]
    assert {"monster", "pluto"} <= set(more.state.constraints.excluded_series)


def test_the_author_of_a_series_named_or_liked_is_the_one_asked_after() -> None:
    csm = turn(
        "actually what else did the chainsaw man author do",
        shown("non-non-biyori", "yotsuba"),
        intent="product_recommendation",
        mentions=[mention("chainsaw-man", "chainsaw man")],
    )
    assert (
        list(csm.state.constraints.by_authors_of) == ["chainsaw-man"]
        and "chainsaw-man" in csm.state.constraints.excluded_series
    )
    liked = shown("hunter-x-hunter", "yu-yu-hakusho")
    liked.constraints.like_series_ids.append("fullmetal-alchemist")
    same = turn("同じ作者の別の作品は？", liked, intent="product_search")
    assert list(same.state.constraints.by_authors_of) == ["fullmetal-alchemist"]
    that = turn(
        "anything else by that author", focused("a-silent-voice", "a silent voice"), intent="product_recommendation"
    )
    assert list(that.state.constraints.by_authors_of) == ["a-silent-voice"]


def test_service_turns_in_plain_words() -> None:
    shipping = turn("how long does shipping to australia take", common_pb2.DialogueState(), intent="shipping_info")
    tracking = turn("is there tracking", shipping.state, intent="order_status", previous_intent="shipping_info")
    assert tracking.intent == "shipping_info" and tracking.state.pending != "order_id"
    mine = turn("where is my tracking number", shipping.state, intent="order_status", previous_intent="shipping_info")
    assert mine.intent == "order_status"
    assert (
        turn("hi, I need help with an order", common_pb2.DialogueState(), intent="greeting", abstained=True).intent
        == "order_status"
    )
    support = turn("ugh ok just connect me to support", common_pb2.DialogueState(), intent="greeting", abstained=True)
    assert support.intent == "escalation"


def test_the_next_volume_an_aspect_or_a_kind_asked_of_the_series_in_focus() -> None:
    yotsuba = focused("yotsuba", "よつばと！", "よつばと！の新刊ありますか")
    nxt = turn("次っていつ出るの？", yotsuba, intent="out_of_scope")
    assert nxt.intent == "product_question" and nxt.state.focus.series_id == "yotsuba"
    gore = turn(
        "gore 多め？", focused("zom-100", "Zom 100", "Zom 100 ってある？"), intent="product_question", abstained=True
    )
    assert gore.intent == "product_question" and gore.state.focus.series_id == "zom-100"
    kind = turn(
        "what's it about? is it like historical?", focused("golden-kamuy", "golden kamui"), intent="product_question"
    )
    assert kind.intent == "product_question" and not kind.state.constraints.like_series_ids
    # 「これって恋愛もの？」「ホラー苦手なんだけど読めるかな」: of the one in focus, not a request for others
    skip = focused("skip-and-loafer", "スキップとローファー")
    assert turn("これって恋愛もの？", skip, "product_question").state.focus.series_id == "skip-and-loafer"
    mieruko = focused("mieruko-chan", "見える子ちゃん", "見える子ちゃんって怖い？")
    readable = turn("ホラー苦手なんだけど読めるかな", mieruko, "product_recommendation")
    assert readable.intent == "product_question" and readable.state.focus.series_id == "mieruko-chan"
    # 「英語版も見せてください」: its English edition, no title we lack
    shown_too = turn("英語版も見せてください", focused("medalist", "メダリスト"), "product_search")
    assert not shown_too.not_carried and shown_too.state.focus.series_id == "medalist"
    # 「フィギュアスケートの漫画だっけ」: what the one in focus is, checked (not a request for that kind)
    medalist = focused("medalist", "メダリスト", "メダリスト置いてる？")
    checked = turn("フィギュアスケートの漫画だっけ", medalist, "product_recommendation")
    assert checked.intent == "product_question" and checked.state.focus.series_id == "medalist"
    assert not checked.state.constraints.genres
    # 「シャンフロってそういう話？」 after another series: whether the one named is that kind of story
    dandadan = named("ダンダダンってどんな話？", ("dandadan", "ダンダダン"))
    asked = turn(
        "シャンフロってそういう話?",
        dandadan,
        "product_question",
        mentions=[mention("shangri-la-frontier", "シャンフロ")],
    )
    assert asked.intent == "product_question" and asked.state.focus.series_id == "shangri-la-frontier"
    assert not asked.state.constraints.like_series_ids


def test_a_word_before_the_edition_is_no_title_we_lack() -> None:
    lion = focused("march-comes-in-like-a-lion", "3月のライオン")
    one = turn("OK 日本語版の1巻ください", lion)
    assert not one.not_carried and (one.state.focus.series_id, one.state.focus.volume) == (
        "march-comes-in-like-a-lion",
        1,
    )
    # A discourse opener before the edition is no name either: 「てか英語版もあるん？」, "actually …".
    for text in ("てか英語版もあるん？", "actually 日本語の1巻もほしい", "btw english one?"):
        other = turn(text, lion)
        assert not other.not_carried and other.state.focus.series_id == "march-comes-in-like-a-lion", text


def test_a_kind_or_a_condition_wanted_after_suggestions_refines_them() -> None:
    mystery = shown("erased", "death-note", "pluto")
    mystery.constraints.genres.append("mystery")
    done = turn("完結済みのやつ", mystery, intent="product_question")
    assert done.intent == "product_recommendation" and done.action == "search"
    assert done.state.constraints.status == "completed" and list(done.state.constraints.genres) == ["mystery"]
    sports = shown_list("slam-dunk", "major", "cross-game")
    baseball = turn("野球のやつで", sports)
    assert baseball.intent == "product_recommendation" and not baseball.state.constraints.only_series
    # 「ホラー要素はないほうがいい」「完結してたほうがいい」 say what is wanted: the list refined, none picked.
    for text in ("ホラー要素はないほうがいい", "完結してたほうがいい"):
        wanted = turn(text, mystery, intent="product_recommendation")
        assert (wanted.intent, wanted.action) == ("product_recommendation", "search"), text
        assert not wanted.state.constraints.only_series, text
    # A length asked for with its cap (「巻数少なめ、10巻以下」) refines the list; it picks none of it.
    shorter = turn("完結済みで巻数少なめ、10巻以下", mystery, intent="product_question")
    assert (shorter.intent, shorter.action) == ("product_recommendation", "search")
    kept = shorter.state.constraints
    assert (kept.max_volumes, kept.status) == (10, "completed") and not kept.only_series
    assert not shorter.state.HasField("focus")
    # Another kind asked for in a few words keeps the budget, edition and status in force...
    budget = turn(
        "anything under 2000 yen a volume? in English", common_pb2.DialogueState(), intent="product_recommendation"
    )
    finished = turn("finished series only", budget.state, intent="product_question")
    other = turn("something with sports?", finished.state, intent="product_recommendation")
    kept = other.state.constraints
    assert list(kept.genres) == ["sports"] and (kept.status, kept.language, kept.max_price_jpy) == (
        "completed",
        "en",
        1999,
    )
    # ... a new request told at length is a new topic.
    told = turn(
        "OK new idea: I want to get into something with sports, a long series I can follow for months",
        finished.state,
        intent="product_recommendation",
    )
    assert not told.state.constraints.status and not told.state.constraints.HasField("max_price_jpy")


def test_work_the_shop_does_not_do_is_out_of_scope_whatever_it_names() -> None:
    fanfic = turn(
        "can you write me a naruto fanfic", common_pb2.DialogueState(), mentions=[mention("naruto", "naruto")]
    )
    assert fanfic.intent == "out_of_scope"
    email = turn(
        "can you translate a japanese email for me", common_pb2.DialogueState(), intent="product_recommendation"
    )
    assert email.intent == "out_of_scope"


def test_describing_a_title_to_find_makes_the_one_found_the_focus() -> None:
    found = turn("whats that manga with tiny people living in a forest", common_pb2.DialogueState(), abstained=True)
    assert found.action == "choose" and found.intent in ("product_search", "product_question")


def test_a_well_known_title_we_lack_is_a_product_turn_that_says_so() -> None:
    mew = mention("absent:tokyomewmew", "Tokyo Mew Mew", kind="absent")
    result = turn("Tokyo Mew Mew?", common_pb2.DialogueState(), intent="out_of_scope", mentions=[mew])
    assert result.not_carried and result.intent in ("product_search", "product_question")
    stream = turn(
        "where can I stream Tokyo Mew Mew?", common_pb2.DialogueState(), intent="out_of_scope", mentions=[mew]
    )
    assert stream.intent == "out_of_scope"


def test_a_single_volume_asked_for_caps_the_length_at_one() -> None:
    one = turn(
        "single-volume manga I can read in one sitting?", common_pb2.DialogueState(), intent="product_recommendation"
    )
    assert one.state.constraints.max_volumes == 1


def test_delivery_to_a_place_after_choosing_a_volume_is_shipping_and_a_kind_wanted_instead_is_a_request() -> None:
    chosen = focused("pokemon-adventures", "pokemon", "pokemon english vol 1")
    osaka = turn("how long would it take to get to osaka?", chosen, intent="product_question", abstained=True)
    assert osaka.intent == "shipping_info"
    vagabond = focused("vagabond", "バガボンド", "バガボンドって完結してる？")
    instead = turn("休載中か…じゃあ完結してる時代劇で", vagabond, intent="product_question")
    assert instead.intent == "product_recommendation" and "vagabond" in instead.state.constraints.excluded_series
    assert list(instead.state.constraints.genres) == ["historical"] and instead.state.constraints.status == "completed"


def test_a_readership_preferred_refines_and_the_price_of_a_whole_set_after_a_list_is_the_first_ones() -> None:
    cheap = turn("cheap manga under 500 yen?", common_pb2.DialogueState(), intent="product_recommendation")
    cheap.state.last_shown.extend(["orange", "love-com"])
    shojo = turn("preferably shojo", cheap.state, intent="product_recommendation")
    assert shojo.state.constraints.max_price_jpy == 499 and shojo.follow_up
    volleyball = shown_list("haikyu", "splatoon")
    whole = turn("全巻だといくらになる？", volleyball, intent="product_question")
    assert (whole.intent, whole.state.focus.series_id) == ("product_question", "haikyu")
    all_45 = turn("how much for all 45 in japanese", volleyball, intent="product_recommendation", abstained=True)
    assert (all_45.state.focus.series_id, all_45.state.focus.language) == ("haikyu", "ja")


def test_first_or_for_now_before_a_volume_is_no_title_we_lack() -> None:
    lion = focused("march-comes-in-like-a-lion", "3月のライオン")
    for text in ("じゃあまず1巻ください", "とりあえず1巻ください"):
        first = turn(text, lion)
        assert not first.not_carried and first.state.focus.volume == 1, text


def test_an_order_number_after_a_return_asked_is_that_return_and_a_sure_off_topic_question_stays_one() -> None:
    asked = turn("返品したいんですが", common_pb2.DialogueState(), intent="return_refund")
    number = turn(
        "注文番号は249-2233445-5566778です", asked.state, intent="order_status", previous_intent="return_refund"
    )
    assert number.intent == "return_refund"
    camp = focused("laid-back-camp", "ゆるキャン", "ゆるキャン置いてますか")
    weather = turn("ちなみに今週末の富士山の天気わかる？", camp, intent="out_of_scope")
    assert weather.intent == "out_of_scope"
    mushoku = focused("mushoku-tensei", "無職転生", "無職転生って何巻まで出てる？")
    age = turn("年齢制限とかある？高校生の弟に買いたいんだけど", mushoku, intent="product_search")
    assert not age.not_carried and age.state.focus.series_id == "mushoku-tensei"


def test_a_wrong_delivery_is_a_return_and_the_next_volumes_date_is_a_question() -> None:
    wrong = turn("注文と違う巻が届きました", common_pb2.DialogueState(), intent="order_status")
    assert wrong.intent == "return_refund"
    assert (
        turn("hi where's my stuff", common_pb2.DialogueState(), intent="greeting", abstained=True).intent
        == "order_status"
    )
    nxt = turn("ワンピの次の巻っていつ出ますか", common_pb2.DialogueState(), mentions=[mention("one-piece", "ワンピ")])
    assert nxt.intent == "product_question"


def test_an_edition_asked_of_the_focus_and_a_title_we_lack_asked_about_it_stay_on_it() -> None:
    erased = focused("erased", "僕街", "僕街は何巻？")
    erased.request.genres.append("sci-fi")
    both = turn("完結済み？英語版もある？", erased, intent="product_recommendation", abstained=True)
    assert both.intent == "product_question" and both.state.focus.series_id == "erased"
    pluto = focused("pluto", "pluto")
    astro = mention("absent:astroboy", "astro boy", kind="absent")
    linked = turn("is it connected to astro boy?", pluto, intent="product_question", mentions=[astro])
    assert not linked.not_carried and linked.state.focus.series_id == "pluto"


def test_other_works_of_a_named_author_are_searched_and_a_genre_stopped_is_ruled_out() -> None:
    gantz = focused("gantz", "GANTZ", "GANTZって何巻完結？")
    oku = mention("gantz", "奥浩哉", kind="author", author_series=("gantz", "inuyashiki"))
    other = turn("奥浩哉のほかの漫画は？", gantz, intent="product_question", mentions=[oku])
    assert other.intent == "product_search" and list(other.state.constraints.only_series) == ["inuyashiki"]
    assert extract("ホラーっぽいのはやめて").excluded_genres == ["horror"]


def test_browsing_for_a_trip_is_a_request_for_something_to_read() -> None:
    trip = turn(
        "hello, browsing for a long flight next week", common_pb2.DialogueState(), intent="out_of_scope", abstained=True
    )
    assert trip.intent == "product_recommendation" and trip.action == "search"


def test_nothing_with_a_floor_of_volumes_caps_the_length_and_an_authors_other_works_leave_out_the_one_liked() -> None:
    capped = turn("and nothing with 40+ volumes", shown_list("one-piece"), intent="product_recommendation")
    assert capped.state.constraints.max_volumes == 39 and not capped.state.constraints.HasField("min_volumes")
    liked = shown("pluto", "20th-century-boys")
    liked.constraints.like_series_ids.append("monster")
    urasawa = mention(
        "monster", "urasawa", kind="author", author_series=("20th-century-boys", "master-keaton", "monster", "pluto")
    )
    other = turn("other urasawa works?", liked, mentions=[urasawa])
    assert "monster" in other.state.constraints.excluded_series and "monster" not in other.state.constraints.only_series


def test_which_of_two_named_is_cheaper_chooses_and_a_statement_about_the_reader_continues_the_gift() -> None:
    pair = turn(
        "ヴィンランド・サガとベルセルク、どっちも気になってるんですよね",
        common_pb2.DialogueState(),
        mentions=[mention("vinland-saga", "ヴィンランド・サガ"), mention("berserk", "ベルセルク", start=10)],
    )
    pair.state.last_shown.extend(["vinland-saga", "berserk"])
    cheaper = turn("1冊の値段が安いのはどっち？", pair.state, intent="product_recommendation")
    assert cheaper.action == "choose" and superlative("1冊の値段が安いのはどっち？") == "cheapest"
    gift = turn(
        "小学生の甥っ子にプレゼントしたいんですが、何かいい漫画ありますか",
        common_pb2.DialogueState(),
        intent="product_recommendation",
    )
    games = turn("ゲームが好きな子なんです", gift.state, intent="out_of_scope")
    assert games.intent == "product_recommendation"
    sidonia = focused("knights-of-sidonia", "シドニアの騎士", "シドニアの騎士って完結してる？")
    same = turn("同じ人が描いてる別のやつある？", sidonia, intent="product_recommendation")
    assert list(same.state.constraints.by_authors_of) == ["knights-of-sidonia"]


def test_english_words_beside_kana_and_a_fact_to_confirm_about_the_focus() -> None:
    one_piece = turn(
        "ワンピースのvolume 105ある?", common_pb2.DialogueState(), mentions=[mention("one-piece", "ワンピース")]
    )
    assert one_piece.state.focus.volume == 105
    liked = turn(
        "OK then, 何か similar だけど not so dark", focused("jujutsu-kaisen", "呪術"), intent="product_recommendation"
    )
    done = turn("completedのやつで", liked.state, intent="product_recommendation")
    assert done.state.constraints.status == "completed"
    blue = focused("blue-period", "Blue Period", "do you have Blue Period?")
    confirm = turn("that's the art school one right?", blue, intent="product_recommendation", abstained=True)
    assert confirm.intent == "product_question" and confirm.state.focus.series_id == "blue-period"
    kenshin = focused("rurouni-kenshin", "るろ剣")
    wait = turn("注文してからどれくらいで届きます?", kenshin, intent="product_question", abstained=True)
    assert wait.intent == "shipping_info"


def test_a_request_for_manga_read_unsurely_as_a_service_is_still_a_request() -> None:
    scifi = turn(
        "completed sci-fi under 10 volumes, go", common_pb2.DialogueState(), intent="return_refund", abstained=True
    )
    assert scifi.intent == "product_recommendation" and scifi.state.constraints.status == "completed"
    assert (
        turn("I want to return it", common_pb2.DialogueState(), intent="return_refund", abstained=True).intent
        == "return_refund"
    )


def test_whats_hot_right_now_asks_for_suggestions() -> None:
    hello = turn("yo", common_pb2.DialogueState(), intent="greeting")
    hot = turn("what's hot right now", hello.state, intent="out_of_scope", abstained=True, previous_intent="greeting")
    assert hot.intent == "product_recommendation"


def discussed(*series_ids: str, focus: str = "") -> common_pb2.DialogueState:
    """A conversation that has talked about these series (the orchestrator keeps the list)."""
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.discussed.extend(series_ids)
    state.focus.series_id = focus or series_ids[-1]
    return state


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("やっぱり最初に聞いたほうにします。英語版の最新刊ってどれですか", "frieren"),
        ("ありがとうございます。最初に伺った作品の英語版1巻をお願いいたします。", "frieren"),
        ("ok going with the first one I asked about, vol 1 in english", "frieren"),
        ("さっき聞いた方は何巻まで？", "dandadan"),
        ("what about the one I asked about before, is it finished?", "dandadan"),
    ],
)
def test_a_series_talked_about_earlier_is_found_by_when(text: str, want: str) -> None:
    result = turn(text, discussed("frieren", "dandadan", "the-apothecary-diaries"), abstained=True)
    assert result.state.focus.series_id == want and result.intent in ("product_question", "product_search")


def test_the_other_one_after_choosing_between_candidates_is_the_other_candidate() -> None:
    asked = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search", pending="series")
    asked.candidates.extend(["skip-beat", "skip-and-loafer"])
    chosen = turn("芸能界のやつです、女優目指すほう", asked, abstained=True)
    assert chosen.action == "choose" and list(chosen.state.candidates) == ["skip-beat", "skip-and-loafer"]
    chosen.state.focus.series_id = "skip-beat"  # what the search put first (the orchestrator's choice)
    question = turn("完結してます？", chosen.state, intent="product_question")
    assert question.state.focus.series_id == "skip-beat" and "skip-and-loafer" in question.state.candidates
    other = turn("51巻でまだ続いてるの…長っ。じゃあもう一個のほうは何巻？", question.state, intent="product_question")
    assert other.state.focus.series_id == "skip-and-loafer"
    # With no other one known, "the other one" keeps to the series in focus.
    alone = shown("witch-watch", intent="product_question")
    alone.focus.series_id = "witch-watch"
    kept = turn("じゃあもう一個のほうはどんな話ですか", alone, intent="product_question")
    assert kept.action == "search" and kept.state.focus.series_id == "witch-watch"


def test_a_clarified_choice_can_be_made_by_author_or_by_a_kind_ruled_out() -> None:
    asked = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search", pending="series")
    asked.candidates.extend(["dead-dead-demons-dededede-destruction", "kirby-manga-mania"])
    works = ("goodnight-punpun", "solanin", "dead-dead-demons-dededede-destruction")
    by = turn(
        "浅野いにおのほう", asked, mentions=[mention("goodnight-punpun", "浅野いにお", "author", author_series=works)]
    )
    assert by.state.focus.series_id == "dead-dead-demons-dededede-destruction"
    asked.candidates[:] = ["hikaru-no-go", "the-summer-hikaru-died"]
    kind = turn("he's 11 and really into board games, so probably not a horror one", asked, abstained=True)
    assert kind.action == "choose" and list(kind.state.constraints.excluded_genres) == ["horror"]


def test_a_piece_of_a_forgotten_title_is_looked_for_whatever_the_classifier_guessed() -> None:
    pieces = [mention(s, "Blue", "partial") for s in ("blue-lock", "blue-period")]
    for m in pieces:
        m.start, m.end = 10, 13
    asked = resolve(
        "友達にすすめられた「ブルーなんとか」って漫画探してます",
        "account",
        False,
        pieces,
        common_pb2.DialogueState(),
        False,
    )
    assert asked.action == "clarify_series" and asked.intent == "product_search"
    assert set(asked.candidates) == {"blue-lock", "blue-period"}


def test_a_liked_hero_is_their_series_wanted_not_others_like_it() -> None:
    anya = mention("spy-x-family", "アーニャ", "character")
    result = turn("アーニャが出てるやつ、娘が好きで。何巻まで出てます？", common_pb2.DialogueState(), mentions=[anya])
    assert result.state.focus.series_id == "spy-x-family" and not result.state.constraints.like_series_ids


def test_a_series_turned_down_with_its_manga_word_is_ruled_out() -> None:
    result = turn(
        "Tanjiro の漫画じゃなくて、Itadori のほうの英語版ください",
        common_pb2.DialogueState(),
        mentions=[mention("demon-slayer", "Tanjiro", "character"), mention("jujutsu-kaisen", "Itadori", "character")],
    )
    assert result.state.focus.series_id == "jujutsu-kaisen" and result.state.focus.language == "en"


@pytest.mark.parametrize("text", ["グロいのはいらんで", "ホラーっぽいのは NG で"])
def test_kansai_and_loanword_refusals_rule_a_kind_out(text: str) -> None:
    result = turn(text, shown("gintama", "nichijou"), abstained=True)
    assert list(result.state.constraints.excluded_genres) == ["horror"] and not result.state.constraints.genres


def test_en_ver_names_the_english_edition() -> None:
    focus = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    focus.focus.series_id = "sakamoto-days"
    assert turn("en ver?", focus, abstained=True).state.focus.language == "en"


@pytest.mark.parametrize("text", ["藤本タツキのother worksもcheckしたい", "藤本タツキ 他"])
def test_an_authors_other_works_leave_out_the_one_talked_about(text: str) -> None:
    focus = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    focus.focus.series_id = "chainsaw-man"
    works = ("chainsaw-man", "fire-punch", "look-back")
    result = turn(text, focus, mentions=[mention("chainsaw-man", "藤本タツキ", "author", author_series=works)])
    assert "chainsaw-man" in result.state.constraints.excluded_series


@pytest.mark.parametrize(
    "text",
    [
        "将棋の漫画で、高校生のプロ棋士がひとり暮らししてるやつ",
        "ダンジョンで魔物を料理して食べるやつ、なんて名前でしたっけ",
        "looking for that isekai where the guy gets reborn as a slime",
    ],
)
def test_a_story_told_looks_for_one_title(text: str) -> None:
    result = turn(text, common_pb2.DialogueState(), intent="product_recommendation")
    assert (result.intent, result.action) == ("product_search", "choose")


def test_a_series_talked_about_can_be_gone_back_to_by_its_description() -> None:
    back = turn(
        "やっぱ最初の料理学校のほうにする。1巻ください", discussed("food-wars", "yakitate-japan"), intent="escalation"
    )
    assert back.action == "choose" and list(back.state.constraints.only_series) == ["food-wars", "yakitate-japan"]
    assert back.state.focus.volume == 1
    english = turn("go back to the pirate one - is that one finished too?", discussed("one-piece", "naruto"))
    assert english.action == "choose" and set(english.state.constraints.only_series) == {"one-piece", "naruto"}


def test_another_series_described_in_a_short_question_is_looked_for_in_the_catalog() -> None:
    for text in ("忍者のは？", "死神のほうは？"):
        result = turn(text, discussed("one-piece"), intent="out_of_scope", abstained=True)
        assert (result.intent, result.action) == ("product_question", "choose"), text
        assert not result.state.constraints.only_series and not result.state.HasField("focus")
    # A question of the series in focus keeps it: an edition, a date, a volume.
    for text in ("英語のは？", "次っていつ出るの？", "1巻のは？"):
        assert turn(text, discussed("one-piece"), intent="product_question").state.focus.series_id == "one-piece", text


def test_a_described_series_beside_the_focus_is_ranked_with_it() -> None:
    result = turn("あとな、九尾がどうこう言うてた忍者のやつ、あれってもう終わってるん？", discussed("one-piece"))
    assert result.action == "choose" and list(result.state.constraints.only_series) == ["one-piece"]


def test_a_description_with_a_one_series_question_looks_for_that_title() -> None:
    for text in (
        "海賊のやつって何巻まで出てます？",
        "なあ、海賊が出てくるめっちゃ長い漫画あるやん、あれ今何巻まで出てんの？",
    ):
        result = turn(text, common_pb2.DialogueState(), intent="product_question")
        assert (result.intent, result.action) == ("product_question", "choose"), text


def test_another_title_recalled_is_not_the_one_in_focus() -> None:
    result = turn("パン作るやつもあったよね、ジャぱんだっけ", discussed("food-wars"), intent="product_question")
    assert result.action == "choose" and not result.state.focus.series_id


@pytest.mark.parametrize("text", ["もっと巻数少ないやつ", "any with fewer volumes?"])
def test_fewer_volumes_than_the_focus_goes_back_to_its_request(text: str) -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "that-time-i-got-reincarnated-as-a-slime"
    state.request.genres.append("isekai")
    result = turn(text, state, abstained=True)
    assert result.reason == "back to the request in force" and list(result.state.constraints.genres) == ["isekai"]
    assert "that-time-i-got-reincarnated-as-a-slime" in result.state.constraints.excluded_series


@pytest.mark.parametrize(
    "text", ["other stuff by the same guys", "what else has that author done", "作者ほかに何描いてる？"]
)
def test_more_ways_to_ask_for_the_focus_authors_other_works(text: str) -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "death-note"
    result = turn(text, state, abstained=True)
    assert list(result.state.constraints.by_authors_of) == ["death-note"]
    assert "death-note" in result.state.constraints.excluded_series


def test_a_hero_named_in_an_off_topic_question_is_no_request_for_their_manga() -> None:
    luffy = mention("one-piece", "ルフィ", "character")
    for abstained in (False, True):
        voice = turn("ルフィの声優って誰？", common_pb2.DialogueState(), "out_of_scope", abstained, mentions=[luffy])
        assert voice.intent == "out_of_scope", abstained
    asked = turn("ルフィが出てる漫画ある？", common_pb2.DialogueState(), "out_of_scope", True, mentions=[luffy])
    assert asked.intent in ("product_search", "product_question") and asked.state.focus.series_id == "one-piece"


@pytest.mark.parametrize(
    ("text", "volume", "language"),
    [
        ("34巻で完結なんだ。英語も34巻？", 34, "en"),
        ("200巻超え！？さすがに全部は無理なので1巻だけ", 1, ""),
        ("日本語版は30巻で完結ですよね？0巻ってのもあるって聞いたんですけど", 0, ""),
    ],
)
def test_a_count_said_back_is_no_limit_asked_for(text: str, volume: int, language: str) -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "attack-on-titan"
    result = turn(text, state, intent="product_recommendation")
    assert result.intent == "product_question" and result.state.focus.series_id == "attack-on-titan"
    assert result.state.focus.volume == volume and result.state.focus.language == language
    c = result.state.constraints
    assert not (c.HasField("max_volumes") or c.HasField("min_volumes") or c.HasField("status"))


def test_a_count_said_back_then_another_request_is_that_request() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "chihayafuru"
    result = turn("50巻かあ…。かるたじゃなくて囲碁とか将棋の漫画は？", state, intent="product_recommendation")
    assert result.intent == "product_recommendation" and not result.state.constraints.HasField("min_volumes")
    # A limit asked is still a limit: 「10巻以内のやつある？」.
    limit = turn("10巻以内のやつある？", state, intent="product_recommendation")
    assert limit.state.constraints.max_volumes == 10


@pytest.mark.parametrize(
    ("text", "cap"),
    [
        ("1巻完結の漫画ある?", 1),
        ("5冊で終わるやつ", 5),
        ("10冊以下で", 10),
        ("短いのがいい、1冊か2冊くらいで終わるやつ", 2),
    ],
)
def test_a_length_said_with_its_ending_is_a_cap(text: str, cap: int) -> None:
    assert cues(text).max_volumes == cap
    assert cues("30巻で完結？").max_volumes is None  # asked of a series, not a kind of manga


def test_wanting_to_read_is_no_likeness() -> None:
    # 「読みたいので」 holds 「みたいの」: a wish, not "something like Hikaru no Go".
    result = turn(
        "ヒカ碁、英語で読みたいので英語版の1巻を",
        common_pb2.DialogueState(),
        mentions=[mention("hikaru-no-go", "ヒカ碁")],
    )
    assert result.action == "search" and not result.state.constraints.like_series_ids
    assert (result.state.focus.series_id, result.state.focus.language, result.state.focus.volume) == (
        "hikaru-no-go",
        "en",
        1,
    )
    assert cues("鬼滅みたいなの読みたい").like


def test_still_ongoing_asks_about_the_series_just_shown() -> None:
    for text in ("まだ連載中？", "still ongoing?"):
        result = turn(text, shown("medalist", "splatoon"), intent="order_status")
        assert result.intent == "product_question" and result.state.focus.series_id == "medalist", text


def test_an_authors_works_with_a_condition_are_picked_among_not_the_focus() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "nana"
    authors = [
        mention("nana", "矢沢あい", kind="author", author_series=("nana", "paradise-kiss")),
        mention("paradise-kiss", "矢沢あい", kind="author", author_series=("nana", "paradise-kiss")),
    ]
    result = turn("じゃあ矢沢あいの完結してるやつ", state, intent="product_question", mentions=authors)
    assert set(result.state.constraints.only_series) == {"nana", "paradise-kiss"}
    assert result.state.constraints.status == "completed" and not result.state.focus.series_id


def test_a_sequels_word_names_it_only_while_its_series_is_talked_about() -> None:
    sequel = common_pb2.Mention(
        series_id="dragon-ball-super", kind="sequel", name="Dragon Ball Super", score=0.7, start=0, end=1
    )
    sequel.relative_to.append("dragon-ball")
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "dragon-ball"
    assert turn("超は完結してる？", state, intent="product_question", mentions=[sequel]).state.focus.series_id == (
        "dragon-ball-super"
    )
    state.focus.series_id = "one-piece"
    assert turn("超は完結してる？", state, intent="product_question", mentions=[sequel]).state.focus.series_id != (
        "dragon-ball-super"
    )
    # Its series named in the same message, the sequel asked for: 「ドラゴンボールの続編の方ってある？超のほう」.
    text = "ドラゴンボールの続編の方ってある？超のほう"
    for said, start, end in ((text, 18, 19), ("ドラゴンボールの続きのやつってある？", 8, 10)):
        follows = common_pb2.Mention(
            series_id="dragon-ball-super", kind="sequel", name="Dragon Ball Super", score=0.7, start=start, end=end
        )
        follows.relative_to.append("dragon-ball")
        asked = turn(said, common_pb2.DialogueState(), mentions=[mention("dragon-ball", "ドラゴンボール"), follows])
        assert asked.state.focus.series_id == "dragon-ball-super", said


def test_a_piece_of_another_title_describes_one_of_those_offered() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search", pending="series")
    state.candidates.extend(["mob-psycho-100", "one-punch-man"])
    hero = mention("my-hero-academia", "ヒーロー", kind="partial")
    result = turn("ハゲのヒーローのほう", state, intent="out_of_scope", mentions=[hero])
    assert result.action == "choose" and set(result.state.constraints.only_series) == {
        "mob-psycho-100",
        "one-punch-man",
    }
    assert result.offered_only  # (asked between them: the answer is one of them)


def test_like_an_unknown_title_asks_for_suggestions() -> None:
    result = turn(
        "ドラクエっぽいファンタジーでなにかない？", common_pb2.DialogueState(), intent="product_recommendation"
    )
    assert result.intent == "product_recommendation" and list(result.state.constraints.genres) == ["fantasy"]


def test_a_wrong_volume_delivered_is_a_return() -> None:
    assert turn("届いた本が注文と違う巻だったんですけど", common_pb2.DialogueState(), intent="order_status").intent == (
        "return_refund"
    )


def test_both_asks_the_same_of_the_two_series_talked_about() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "my-dress-up-darling"
    state.discussed.extend(["the-dangers-in-my-heart", "my-dress-up-darling"])
    result = turn("どっちも英語版ある？", state)
    assert result.intent == "product_question" and result.state.constraints.language == "en"
    assert list(result.state.constraints.only_series) == ["the-dangers-in-my-heart", "my-dress-up-darling"]


def test_others_of_a_kind_leave_out_every_series_talked_about() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search")
    state.focus.series_id = "neon-genesis-evangelion"
    state.discussed.extend(["mobile-suit-gundam-the-origin", "neon-genesis-evangelion"])
    result = turn("他にロボットもの、mecha系ある？", state, intent="product_recommendation")
    assert {"mobile-suit-gundam-the-origin", "neon-genesis-evangelion"} <= set(result.state.constraints.excluded_series)


def test_other_ones_of_a_kind_after_a_list_ask_for_more_not_one_of_those() -> None:
    prev = shown("beyblade", "medalist", intent="product_search")
    prev.constraints.genres.append("sports")
    result = turn("他の sports 漫画で completed のやつ", prev, intent="product_recommendation")
    assert result.action == "search" and not result.state.constraints.only_series
    assert result.state.constraints.status == "completed" and list(result.state.constraints.genres) == ["sports"]


def test_the_cheapest_among_those_shown_keeps_the_request_they_were_shown_for() -> None:
    prev = shown("ashita-no-joe", "kurokos-basketball", "cross-game")
    prev.constraints.genres.append("sports")
    prev.constraints.max_volumes = 20
    result = turn("その中で一番安いのは？", prev, intent="out_of_scope", abstained=True)
    c = result.state.constraints
    assert result.action == "choose" and c.max_volumes == 20 and list(c.genres) == ["sports"]
    assert list(c.only_series) == ["ashita-no-joe", "kurokos-basketball", "cross-game"]


def test_a_price_asked_after_a_series_is_no_payment_question() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "berserk"
    result = turn("値段差は", state, intent="payment")
    assert result.intent == "product_question" and result.state.focus.series_id == "berserk"


def test_an_authors_other_works_leave_out_every_one_talked_about() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "dragon-ball-super"
    state.discussed.extend(["dragon-ball", "dragon-ball-super"])
    works = ("dr-slump", "dragon-ball", "dragon-ball-super")
    toriyama = [mention(s, "鳥山明", kind="author", author_series=works) for s in works]
    result = turn("鳥山明のほかのは？", state, intent="product_question", mentions=toriyama)
    assert list(result.state.constraints.only_series) == ["dr-slump"]


def test_an_authors_other_works_when_we_carry_only_the_one_talked_about() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "jojos-bizarre-adventure"
    araki = mention("jojos-bizarre-adventure", "荒木飛呂彦", kind="author", author_series=("jojos-bizarre-adventure",))
    result = turn("荒木飛呂彦のほかの作品も置いてる？", state, intent="product_search", mentions=[araki])
    assert result.intent == "product_search" and list(result.state.constraints.only_series) == [
        "jojos-bizarre-adventure"
    ]
    assert not result.state.constraints.like_series_ids  # (no one else's works passed off as theirs)


def test_asking_politely_whether_every_volume_is_in_is_no_ruling_out() -> None:
    result = turn(
        "すみません、鬼滅の刃は全巻そろっていますでしょうか。",
        common_pb2.DialogueState(),
        mentions=[mention("demon-slayer", "鬼滅の刃")],
    )
    assert result.state.focus.series_id == "demon-slayer" and not result.state.constraints.excluded_series


def test_a_count_said_back_before_a_comma_is_a_remark() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "assassination-classroom"
    result = turn("21巻で完結ね、english?", state, intent="product_question")
    assert result.state.focus.series_id == "assassination-classroom" and result.state.focus.language == "en"
    assert not result.state.constraints.HasField("max_volumes")


def test_another_of_those_asked_between_besides_the_one_chosen() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "blue-period"
    state.candidates.extend(["blue-lock", "blue-period"])
    result = turn("サッカーのほうも気になってきた。そっちは完結してる？", state, intent="product_question")
    assert result.intent == "product_question" and result.state.focus.series_id == "blue-lock"


def test_a_word_holding_noshi_is_no_gift_wrapping_question() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "frieren"
    state.last_shown.append("frieren")
    result = turn(
        "似た感じのしっとりしたファンタジーで、完結してるのってあります？", state, intent="product_recommendation"
    )
    assert result.intent == "product_recommendation" and result.state.constraints.status == "completed"
    assert turn("のしをつけてもらえますか", state, intent="shipping_info").intent == "shipping_info"


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("小学生の子供向けのマンガありますか", "product_search"),
        ("昔の少女漫画で名作ある？", "product_search"),
    ],
)
def test_a_kind_of_manga_wanted_asks_for_suggestions(text: str, classified: str) -> None:
    assert turn(text, common_pb2.DialogueState(), intent=classified).intent == "product_recommendation"


def test_the_price_asked_in_romaji_or_kansai_is_a_question() -> None:
    for text, series, name in (
        ("naruto zenkan ikura?", "naruto", "naruto"),
        ("ついでにゴールデンカムイ全巻なんぼ？", "golden-kamuy", "ゴールデンカムイ"),
    ):
        result = turn(text, common_pb2.DialogueState(), mentions=[mention(series, name)])
        assert result.intent == "product_question", text


def test_same_author_said_the_other_way_round() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "chainsaw-man"
    result = turn("作者おなじで他にある？", state, intent="product_question")
    assert list(result.state.constraints.by_authors_of) == ["chainsaw-man"]


def test_a_story_told_is_a_product_turn_whatever_service_was_guessed() -> None:
    # 不良 is a delinquent here, not a defect.
    result = turn("不良がタイムリープするやつ", common_pb2.DialogueState(), intent="return_refund")
    assert result.intent == "product_search" and result.action == "choose"


@pytest.mark.parametrize(
    ("text", "series", "name"),
    [
        ("アーニャが出てくるやつの最新刊ってもう出てる？", "spy-x-family", "アーニャ"),
        ("hunter hunter 新刊まだ?", "hunter-x-hunter", "hunter hunter"),
        ("look back って1巻だけ?", "look-back", "look back"),
    ],
)
def test_whether_it_is_out_or_that_short_is_a_question(text: str, series: str, name: str) -> None:
    result = turn(text, common_pb2.DialogueState(), mentions=[mention(series, name)])
    assert result.intent == "product_question" and result.state.focus.series_id == series


def test_the_manga_of_it_is_no_description() -> None:
    state = shown("demon-slayer", intent="product_question")
    state.focus.series_id = "demon-slayer"
    result = turn("漫画のほうは何巻？", state, intent="product_question")
    assert result.action == "search" and result.state.focus.series_id == "demon-slayer"


def test_a_status_asked_of_the_one_described_is_no_filter() -> None:
    for text in ("漫画家を目指す話のほうって完結してますか？", "ロボットが出てくるやつは何巻で完結してますか"):
        result = turn(text, shown("bakuman", "hikaru-no-go"), intent="product_question")
        assert result.action == "choose" and result.intent == "product_question", text
        assert not result.state.constraints.HasField("status"), text


def test_a_title_named_after_an_authors_other_works_is_one_of_them() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "hunter-x-hunter"
    togashi = ("yu-yu-hakusho", "hunter-x-hunter")
    for text, name in (("冨樫の他の作品は?幽白とか", "幽白"), ("冨樫の他の作品、幽遊白書ありますか", "幽遊白書")):
        mentions = [
            mention("hunter-x-hunter", "冨樫", kind="author", author_series=togashi),
            mention("yu-yu-hakusho", name),
        ]
        assert turn(text, state, intent="product_recommendation", mentions=mentions).state.focus.series_id == (
            "yu-yu-hakusho"
        ), text
    # Named before, it is the one read: the author's others.
    slump = turn(
        "Just finished Dr. Slump, what else did Toriyama draw?",
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=[
            mention("dr-slump", "Dr. Slump"),
            mention("dragon-ball", "Toriyama", kind="author", author_series=("dr-slump", "dragon-ball")),
        ],
    )
    assert list(slump.state.constraints.only_series) == ["dragon-ball"]


def test_a_story_confirmed_asks_about_the_series_talked_about() -> None:
    state = shown("sakamoto-days", intent="product_question")
    state.focus.series_id = "sakamoto-days"
    state.discussed.append("sakamoto-days")
    result = turn("伝説の殺し屋が引退して太っちゃうやつだよね？", state, intent="product_question")
    # (the search ranks it against the catalog: another series may fit the story better)
    assert result.action == "choose" and result.intent == "product_question"
    assert list(result.state.constraints.only_series) == ["sakamoto-days"]


def test_a_title_said_as_its_authors_name_keeps_the_series_talked_about() -> None:
    hikaru = focused("hikaru-no-go", "ヒカルの碁")
    death_note = mention("death-note", "death note")
    who = turn("who drew it? isn't it the death note guy", hikaru, "product_question", mentions=[death_note])
    assert (who.intent, who.state.focus.series_id) == ("product_question", "hikaru-no-go")
    others = turn("その人の他の作品は?", who.state, "product_recommendation")
    assert list(others.state.constraints.by_authors_of) == ["hikaru-no-go"]
    same = turn(
        "絵の人 Death Note と同じだよね？その人の他の作品は？",
        hikaru,
        "product_question",
        mentions=[mention("death-note", "Death Note")],
    )
    assert list(same.state.constraints.by_authors_of) == ["hikaru-no-go"]
    assert "death-note" not in same.state.constraints.excluded_series
    # A title named on its own is still that title.
    asked = turn("death note is finished right?", hikaru, "product_question", mentions=[death_note])
    assert asked.state.focus.series_id == "death-note"


def test_a_kind_asked_for_is_no_greeting_though_its_word_holds_bot() -> None:
    eva = focused("neon-genesis-evangelion", "エヴァ", "エヴァの漫画版ってある？")
    others = turn("ロボットもので他に", eva, "greeting")
    assert others.intent == "product_recommendation" and list(others.state.constraints.genres) == ["mecha"]
    assert "neon-genesis-evangelion" in others.state.constraints.excluded_series
    assert turn("ボットなの？", common_pb2.DialogueState(), "greeting").intent == "greeting"


def test_a_name_taken_back_in_the_message_is_not_asked_for() -> None:
    text = "Looking for the manga where Luffy... no wait, the one with Ichigo the soul reaper guy"
    luffy = mention("one-piece", "Luffy", kind="character", start=text.index("Luffy"))
    fixed = turn(text, common_pb2.DialogueState(), "product_recommendation", mentions=[luffy])
    assert fixed.intent == "product_search" and fixed.state.focus.series_id != "one-piece"
    assert "one-piece" in fixed.state.constraints.excluded_series
    assert "luffy" not in fixed.state.topic
    # The name said after it is the one asked for.
    naruto = mention("naruto", "naruto", start=29)
    asked = turn("do you have bleach? i mean naruto", common_pb2.DialogueState(), mentions=[naruto])
    assert asked.state.focus.series_id == "naruto"


def test_the_one_described_while_another_of_the_list_is_in_focus_is_one_of_that_list() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "monster"
    state.last_shown.append("monster")
    state.request.only_series.extend(["monster", "pluto", "20th-century-boys", "master-keaton"])
    robot = turn("ok and the robot one?", state, intent="product_recommendation")
    assert robot.action == "choose" and "pluto" in robot.state.constraints.only_series
    assert not robot.state.constraints.genres


def test_one_of_an_authors_works_described_is_searched_not_filtered_by_the_kind_it_names() -> None:
    hxh = focused("hunter-x-hunter", "ハンターハンター", "ハンターハンターって完結した？")
    togashi = mention("hunter-x-hunter", "togashi", kind="author", author_series=("hunter-x-hunter", "yu-yu-hakusho"))
    other = turn("togashi's other one, the spirit detective one", hxh, mentions=[togashi])
    assert list(other.state.constraints.only_series) == ["yu-yu-hakusho"]
    assert not other.state.constraints.genres  # "detective" describes it; it is no mystery filter
    # 「ONE先生のもう一個の…」 after Mob Psycho: the author's other one.
    mob = focused("mob-psycho-100", "モブサイコ100", "モブサイコ100ある？")
    one = mention("mob-psycho-100", "ONE", kind="author", author_series=("mob-psycho-100", "one-punch-man"))
    other_one = turn("ONE先生のもう一個の、ハゲのヒーローのやつ", mob, "product_question", mentions=[one])
    assert list(other_one.state.constraints.only_series) == ["one-punch-man"]


def test_small_talk_after_a_request_is_no_part_of_it_and_whatever_is_no_title() -> None:
    english = turn("any manga in english?", common_pb2.DialogueState(), "product_recommendation")
    weather = turn("今日天気いいね〜", english.state, "out_of_scope")
    assert weather.intent == "out_of_scope"
    # ... though what a present is for stays the request's ("he loves games").
    gift = turn("a manga for my nephew's birthday?", common_pb2.DialogueState(), "product_recommendation")
    assert turn("he loves games", gift.state, "out_of_scope").intent == "product_recommendation"
    csm = focused("chainsaw-man", "チェンソーマン")
    latest = turn("ok whatever. 漫画の最新刊はある？", csm, "product_search")
    assert not latest.not_carried and latest.state.focus.series_id == "chainsaw-man"


def test_one_work_of_the_same_author_described_is_found_as_the_one_meant() -> None:
    ansatsu = focused("assassination-classroom", "暗殺教室", "暗殺教室ってある？")
    newer = turn("same author has a newer one right? samurai kid on the run", ansatsu, "product_question")
    assert newer.action == "choose" and list(newer.state.constraints.by_authors_of) == ["assassination-classroom"]
    death_note = focused("death-note", "デスノ", "デスノの全巻セット")
    kids = turn("same artist, the one about two kids making manga", death_note, "product_recommendation")
    assert kids.action == "choose"
    # Their works, asked for: a list.
    others = turn("同じ作者の他のやつも見せて", death_note, "product_recommendation")
    assert others.action == "search" and list(others.state.constraints.by_authors_of) == ["death-note"]


def test_going_back_to_one_talked_about_chooses_among_those_only() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_question")
    state.focus.series_id = "slam-dunk"
    state.discussed.extend(["vagabond", "slam-dunk"])
    back = turn("ok going back to the samurai one, first volume in japanese please", state, "product_search")
    assert back.action == "choose" and back.offered_only
    assert set(back.state.constraints.only_series) == {"vagabond", "slam-dunk"}


def test_what_about_the_one_where_describes_another_series() -> None:
    wars = focused("food-wars", "food wars", "is food wars finished")
    other = turn("ok and what about the one where they eat monsters in a dungeon", wars, "product_question")
    assert other.action == "choose" and other.state.focus.series_id != "food-wars"


def test_a_title_recalled_by_its_story_is_not_filtered_by_the_kinds_its_words_name() -> None:
    text = "Looking for that manga about the elf mage who outlives the hero's party, it starts after they beat the demon king"
    recalled = turn(text, common_pb2.DialogueState(), "product_question")
    assert recalled.action == "choose" and not recalled.state.constraints.genres


def test_whose_original_the_one_shown_is_asks_about_it() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search")
    state.last_shown.append("pluto")
    tezuka = mention("pluto", "手塚治虫", kind="author", start=2, author_series=("black-jack", "pluto"))
    asked = turn("これ手塚治虫の原作なんだっけ", state, "product_question", mentions=[tezuka])
    assert asked.intent == "product_question" and asked.state.focus.series_id == "pluto"


def test_a_kind_of_story_wished_for_after_a_list_asks_for_suggestions() -> None:
    listed = shown("shugo-chara", "please-save-my-earth", "yotsuba")
    kitten = turn("子猫が主人公のお話とかあれば", listed, "product_question")
    assert kitten.intent == "product_recommendation" and not kitten.state.focus.series_id


@pytest.mark.parametrize(
    ("said", "status"),
    [
        ("まだ続いてるやつで", "ongoing"),
        ("今も連載してるのがいい", "ongoing"),
        ("新刊が出続けてるやつ", "ongoing"),
        ("まだ終わってないのがいい", "ongoing"),
        ("完結してないやつ", "ongoing"),
        ("全巻出てるやつがいいな", "completed"),
        ("連載終了したやつ", "completed"),
        ("もう終わった作品で", "completed"),
        # a status refused is the other one wanted
        ("連載中のは除いて", "completed"),
        ("未完のはやめて", "completed"),
        ("続いてる作品はいや", "completed"),
        ("skip the ongoing ones", "completed"),
        ("nothing unfinished please", "completed"),
        ("ongoing ones are out", "completed"),
        ("still running ones only", "ongoing"),
    ],
)
def test_a_status_said_or_refused_after_a_list_refines_it(said: str, status: str) -> None:
    state = shown_after("おすすめの恋愛漫画ある？", ["kowloon-generic-romance", "ranma-half"])
    after = turn(said, state, intent="product_question")
    assert after.intent == "product_recommendation" and not after.state.focus.series_id
    assert list(after.state.constraints.genres) == ["romance"] and after.state.constraints.status == status


def test_a_refused_kind_beside_a_status_refuses_the_kind_not_the_status() -> None:
    result = turn("連載中でホラーはいや", common_pb2.DialogueState(), intent="product_recommendation")
    assert result.state.constraints.status == "ongoing" and list(result.state.constraints.excluded_genres) == ["horror"]


@pytest.mark.parametrize(
    ("said", "place"),
    [
        ("真ん中のは？", 1),
        ("一番下のやつ", 2),
        ("下のやつ", 2),
        ("最初に出てきたの", 0),
        ("1個目のあらすじ教えて", 0),
        ("最後に紹介してくれたやつ", 2),
        ("ひとつめ", 0),
        ("3番のやつ", 2),
        ("一番上のにします", 0),
        ("2つめのを英語で", 1),
        ("後者で", 2),
        ("前者のほうが気になる", 0),
        ("the middle one sounds fun", 1),
        ("the top one", 0),
    ],
)
def test_one_of_a_list_picked_by_its_place_is_in_focus(said: str, place: int) -> None:
    shown = ["spy-x-family", "kaguya-sama-love-is-war", "horimiya"]
    state = shown_after("おすすめのラブコメ教えて", shown)
    result = turn(said, state, intent="escalation" if said == "後者で" else "out_of_scope")
    assert result.intent in ("product_search", "product_question") and result.state.focus.series_id == shown[place]


def test_the_middle_of_an_even_list_is_no_place() -> None:
    state = shown_after("おすすめのラブコメ教えて", ["spy-x-family", "horimiya"])
    assert not turn("真ん中のは？", state, intent="product_question").state.focus.series_id


def test_a_kind_that_moves_you_asked_for_is_still_a_request() -> None:
    named = turn(
        "チェンソーマンってある？", common_pb2.DialogueState(), mentions=[mention("chainsaw-man", "チェンソーマン")]
    )
    result = turn("泣ける漫画ある？", named.state, intent="product_recommendation")
    assert result.intent == "product_recommendation" and not result.state.focus.series_id


@pytest.mark.parametrize(
    ("said", "classified", "volume"),
    [
        ("続きの巻ほしい", "return_refund", 6),
        ("じゃあ全部ください", "greeting", 0),
        ("全部ほしい", "greeting", 0),
    ],
)
def test_a_volume_or_the_whole_series_asked_of_the_one_in_focus_stays_with_it(
    said: str, classified: str, volume: int
) -> None:
    named = turn(
        "チェンソーマンの5巻ある？", common_pb2.DialogueState(), mentions=[mention("chainsaw-man", "チェンソーマン")]
    )
    result = turn(said, named.state, intent=classified)
    assert result.intent in ("product_search", "product_question")
    assert (result.state.focus.series_id, result.state.focus.volume) == ("chainsaw-man", volume)


@pytest.mark.parametrize(
    ("said", "excluded"),
    [
        ("cheaper ones?", False),
        ("shorter ones pls", False),
        ("none of these, something else", True),
        ("neither, sorry", True),
        ("どれも微妙かな…他には？", True),
    ],
)
def test_after_a_list_other_ones_keep_the_request(said: str, excluded: bool) -> None:
    shown = ["kowloon-generic-romance", "ranma-half", "horimiya"]
    state = shown_after("recommend a romance manga", shown)
    result = turn(said, state, intent="product_recommendation")
    assert result.action == "search" and list(result.state.constraints.genres) == ["romance"]
    assert not result.state.constraints.only_series
    assert sorted(result.state.constraints.excluded_series) == (sorted(shown) if excluded else [])


@pytest.mark.parametrize(
    ("said", "named"),
    [
        ("呪術廻戦に近い雰囲気の漫画", ("jujutsu-kaisen", "呪術廻戦")),
        ("ヒロアカ的なの", ("my-hero-academia", "ヒロアカ")),
    ],
)
def test_a_title_likened_in_other_words_is_an_anchor_not_the_answer(said: str, named: tuple[str, str]) -> None:
    result = turn(said, common_pb2.DialogueState(), intent="product_question", mentions=[mention(*named)])
    assert result.action == "similar" and list(result.state.constraints.like_series_ids) == [named[0]]


def test_a_kanji_word_with_teki_likens_nothing() -> None:
    assert not cues("本格的なミステリー読みたい").like


@pytest.mark.parametrize(
    ("said", "named"),
    [
        ("something close to death note", ("death-note", "death note")),
        ("anything in the same vein as monster?", ("monster", "monster")),
        ("recs for someone who liked haikyuu", ("haikyu", "haikyuu")),
        ("got anything comparable to vinland saga", ("vinland-saga", "vinland saga")),
        ("same genre as demon slayer", ("demon-slayer", "demon slayer")),
    ],
)
def test_a_title_likened_in_english_words_is_an_anchor(said: str, named: tuple[str, str]) -> None:
    mentioned = mention(*named, start=said.index(named[1]))
    result = turn(said, common_pb2.DialogueState(), intent="product_recommendation", mentions=[mentioned])
    assert result.action == "similar" and list(result.state.constraints.like_series_ids) == [named[0]]


def test_close_to_a_price_likens_nothing() -> None:
    assert not cues("anything close to 500 yen?").like and not cues("english please").like


CHAINSAW_MAN = ("chainsaw-man", "チェンソーマン")
VINLAND_SAGA = ("vinland-saga", "ヴィンランド・サガ")


@pytest.mark.parametrize(
    ("series", "said", "classified"),
    [
        (CHAINSAW_MAN, "この漫画怖い？", "product_question"),
        (CHAINSAW_MAN, "その漫画泣ける？", "product_recommendation"),
        (CHAINSAW_MAN, "その作品泣ける？", "out_of_scope"),
        (CHAINSAW_MAN, "今のやつ英語版ある？", "product_search"),
        (CHAINSAW_MAN, "さっきのやつの値段", "product_question"),
        (VINLAND_SAGA, "小学生でも大丈夫？", "out_of_scope"),
        (VINLAND_SAGA, "絵柄きれい？", "out_of_scope"),
        (VINLAND_SAGA, "評判いい？", "out_of_scope"),
        (VINLAND_SAGA, "人気ある？", "product_search"),
        (VINLAND_SAGA, "スピンオフある？", "product_search"),
        (VINLAND_SAGA, "続編ある？", "product_search"),
        (VINLAND_SAGA, "グロいシーンある？", "product_search"),
        (VINLAND_SAGA, "恋愛要素ある？", "product_question"),
        (VINLAND_SAGA, "ok for a 10 year old?", "out_of_scope"),
        (VINLAND_SAGA, "how's the art", "greeting"),
    ],
)
def test_the_series_in_focus_is_what_pointing_at_it_or_asking_what_it_has_is_about(
    series: tuple[str, str], said: str, classified: str
) -> None:
    # (「この漫画怖い？」「今のやつ英語版ある？」, 「恋愛要素ある？」, "ok for a 10 year old?")
    state = shown_after(f"{series[1]}ってある？", [series[0]], "product_search", [mention(*series)])
    result = turn(said, state, intent=classified)
    assert (result.intent, result.state.focus.series_id) == ("product_question", series[0])
    assert not result.not_carried


def test_a_kind_with_that_element_wanted_is_a_request() -> None:
    named = turn(
        "ヴィンランド・サガある？", common_pb2.DialogueState(), mentions=[mention("vinland-saga", "ヴィンランド・サガ")]
    )
    result = turn("恋愛要素あるやつがいい", named.state, intent="product_recommendation")
    assert result.intent == "product_recommendation" and not result.state.focus.series_id


@pytest.mark.parametrize("said", ["もっとcheapなのある？", "10 volumes以下で", "もっとshortなやつ"])
def test_a_limit_said_half_in_english_refines_the_list(said: str) -> None:
    state = shown_after("おすすめのromance漫画ある？", ["kowloon-generic-romance", "ranma-half", "horimiya"])
    result = turn(said, state, intent="product_search")
    assert result.intent == "product_recommendation" and list(result.state.constraints.genres) == ["romance"]
    assert not result.not_carried
    if "volumes" in said:
        assert result.state.constraints.max_volumes == 10


def test_a_cancellation_asked_after_an_order_stays_with_the_order() -> None:
    result = turn("キャンセルできる？", common_pb2.DialogueState(), intent="payment", previous_intent="order_status")
    assert (result.intent, result.action) == ("order_status", "answer")
    # (a payment question of its own after an order is a payment question)
    paid = turn("支払い方法を変えたい", common_pb2.DialogueState(), intent="payment", previous_intent="order_status")
    assert paid.intent == "payment"


@pytest.mark.parametrize(
    ("said", "classified", "intent"),
    [
        ("i don't have the number", "escalation", "order_status"),
        ("注文番号わからないです", "order_status", "order_status"),
        ("I lost the order id, can you look it up by my email?", "order_status", "order_status"),
        ("no idea what the number is, let me talk to a real person", "escalation", "escalation"),
    ],
)
def test_no_order_number_to_give_keeps_the_order_question(said: str, classified: str, intent: str) -> None:
    asked = turn("my order hasn't arrived", common_pb2.DialogueState(), intent="order_status")
    assert asked.state.pending == "order_id"
    result = turn(said, asked.state, intent=classified, previous_intent="order_status")
    assert result.intent == intent and result.action == "answer"


@pytest.mark.parametrize(
    ("said", "classified", "place"),
    [
        ("最後のやつじゃなくて最初の", "product_search", 0),
        ("not the first one you showed, the third one", "order_status", 2),
    ],
)
def test_a_place_taken_back_is_replaced_by_the_one_said_after(said: str, classified: str, place: int) -> None:
    shown = ["spy-x-family", "kaguya-sama-love-is-war", "horimiya"]
    state = shown_after("おすすめのラブコメ教えて", shown)
    result = turn(said, state, intent=classified)
    assert result.intent in ("product_search", "product_question") and result.state.focus.series_id == shown[place]


@pytest.mark.parametrize("said", ["3つのうち一番短いのは？", "初心者向けなのはどれ？"])
def test_which_of_the_ones_shown_is_asked_among_them(said: str) -> None:
    shown = ["spy-x-family", "kaguya-sama-love-is-war", "horimiya"]
    state = shown_after("おすすめのラブコメ教えて", shown)
    result = turn(said, state, intent="out_of_scope")
    assert result.action == "choose" and list(result.state.constraints.only_series) == shown


@pytest.mark.parametrize(
    "text",
    ["is komi san the same kind of vibe", "I liked the samurai stuff most. is it worth it?", "a new-ish jump manga"],
)
def test_a_question_or_a_remark_likens_nothing(text: str) -> None:
    assert not cues(text).like


def test_a_young_readers_age_group_holds_for_their_next_request_until_another_reader() -> None:
    kid = turn("books for my 6 year old", common_pb2.DialogueState(), "product_recommendation")
    assert kid.state.constraints.HasField("max_age_rating") and kid.state.constraints.max_age_rating == 0
    animals = turn("anything with animals?", kid.state, "product_recommendation")
    assert animals.state.constraints.HasField("max_age_rating") and animals.state.constraints.max_age_rating == 0
    for other in ("what about for me? I like horror", "what about something for my husband"):
        mine = turn(other, animals.state, "product_recommendation").state.constraints
        assert not mine.HasField("max_age_rating")
    # A kind asked for now lifts its earlier exclusion ("no horror" for the child).
    assert "horror" not in turn("what about for me? I like horror", kid.state).state.constraints.excluded_genres


@pytest.mark.parametrize("text", ["動物の漫画ある？", "恐竜の漫画ありますか", "猫の漫画ある？"])
def test_manga_about_an_ordinary_thing_is_a_kind_asked_for_not_a_title_we_lack(text: str) -> None:
    result = turn(text, common_pb2.DialogueState(), "product_search")
    assert not result.not_carried and result.action == "search"
    after = turn("将棋の漫画もある？", shown_after("ヒカルの碁ある？", ["hikaru-no-go"]), "product_search")
    assert not after.state.focus.series_id and not after.not_carried


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("idk, surprise me", "out_of_scope"),
        ("you pick", "greeting"),
        ("おまかせで", "greeting"),
        ("なんでもいいよ", "escalation"),
    ],
)
def test_the_choice_left_to_us_is_a_recommendation_never_an_ask_back(text: str, classified: str) -> None:
    fresh = turn(text, common_pb2.DialogueState(), classified, abstained=True)
    assert (fresh.intent, fresh.action) == ("product_recommendation", "search")
    romance = turn("Recommend a romance manga", common_pb2.DialogueState(), "product_recommendation").state
    assert list(turn(text, romance, classified).state.constraints.genres) == ["romance"]
    kingdom = turn("Do you have Kingdom?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")]).state
    after = turn(text, kingdom, classified)
    assert after.intent == "product_recommendation" and not after.state.focus.series_id


def test_a_filler_like_is_no_likeness() -> None:
    dandadan = turn("Dandadan", common_pb2.DialogueState(), mentions=[mention("dandadan", "Dandadan")]).state
    for text in ("and is it expensive? like per volume", "ok. like how long is it"):
        result = turn(text, dandadan, "product_recommendation")
        assert result.state.focus.series_id == "dandadan" and not result.state.constraints.like_series_ids, text


def test_a_title_wanted_after_a_question_is_the_turn() -> None:
    oshi = turn(
        "おしのこの16巻ってありますか", common_pb2.DialogueState(), mentions=[mention("oshi-no-ko", "おしのこ")]
    ).state
    text = "かぐや様の作者ですよね？かぐや様も読んでみたい"
    kaguya = [
        mention("kaguya-sama-love-is-war", "かぐや様", start=0),
        mention("kaguya-sama-love-is-war", "かぐや様", start=12),
    ]
    assert turn(text, oshi, "product_question", mentions=kaguya).state.focus.series_id == "kaguya-sama-love-is-war"


@pytest.mark.parametrize(
    ("text", "classified", "intent"),
    [
        ("昨日届いた呪術廻戦の25巻、表紙が折れてたんですけど", "product_search", "return_refund"),
        ("my copy of Berserk vol 3 arrived with a torn cover", "product_search", "return_refund"),
        ("This is the third time my book arrived damaged. I want to speak to a manager", "return_refund", "escalation"),
    ],
)
def test_a_damaged_delivery_is_a_return_about_the_title_it_names(text: str, classified: str, intent: str) -> None:
    series = "jujutsu-kaisen" if "呪術" in text else "berserk"
    named = [mention(series, "呪術廻戦" if "呪術" in text else "Berserk", start=5)] if intent == "return_refund" else []
    result = turn(text, common_pb2.DialogueState(), classified, mentions=named)
    assert result.intent == intent
    if named:
        assert result.state.focus.series_id == series


def test_a_turn_opening_with_a_correction_is_what_was_meant_not_a_no() -> None:
    frieren = turn("Do you have Frieren?", common_pb2.DialogueState(), mentions=[mention("frieren", "Frieren")]).state
    english = turn("no the english one", frieren, "product_question")
    assert english.state.focus.series_id == "frieren" and english.state.focus.language == "en"
    dragon = turn("dragon ball", common_pb2.DialogueState(), mentions=[mention("dragon-ball", "dragon ball")]).state
    meant = turn(
        "no the super one", dragon, "product_search", mentions=[mention("dragon-ball-super", "super", start=7)]
    )
    assert meant.state.focus.series_id == "dragon-ball-super" and not meant.state.constraints.excluded_series


def test_a_number_on_its_own_is_a_volume_of_the_series_in_focus_only() -> None:
    chainsaw = turn("チェンソーマン", common_pb2.DialogueState(), mentions=[mention("chainsaw-man", "チェンソーマン")])
    assert turn("21", chainsaw.state, "product_question").state.focus.volume == 21
    asked = turn("where is my order?", common_pb2.DialogueState(), "order_status")
    assert not turn("21", asked.state, "order_status").state.focus.HasField("volume")


def test_a_kind_added_in_a_few_words_narrows_the_request_in_force() -> None:
    fantasy = turn("recommend me a fantasy manga", common_pb2.DialogueState(), "product_recommendation")
    lead = turn("something with a female lead", fantasy.state, "product_recommendation")
    assert lead.follow_up and list(lead.state.constraints.genres) == ["fantasy"]
    assert lead.state.topic == fantasy.state.topic  # searched with the request's own words
    # (after a series, "anything with animals?" is a new request, not one of that series)
    kingdom = turn("Do you have Kingdom?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")])
    assert not turn("anything with animals?", kingdom.state, "product_recommendation").state.focus.series_id


def test_a_title_wanted_is_no_person_asked_for_but_a_person_asked_for_is() -> None:
    one_piece = [mention("one-piece", "One Piece", start=16)]
    wanted = turn("I want to start One Piece", common_pb2.DialogueState(), "escalation", mentions=one_piece)
    assert wanted.intent == "product_search" and wanted.state.focus.series_id == "one-piece"
    person = turn("I want to talk to someone about my One Piece order", common_pb2.DialogueState(), "escalation")
    assert person.intent == "escalation"


@pytest.mark.parametrize(
    ("text", "order"), [("too expensive", "cheapest"), ("hmm too long", "fewest_volumes"), ("高すぎ", "cheapest")]
)
def test_too_expensive_or_too_long_after_a_list_asks_for_cheaper_or_shorter(text: str, order: str) -> None:
    state = shown_after("Recommend a romance manga", ["horimiya", "kimi-ni-todoke"])
    result = turn(text, state, "product_recommendation")
    assert result.intent == "product_recommendation" and list(result.state.constraints.genres) == ["romance"]
    assert superlative(text) == order
    assert superlative("not too long please") == "" and superlative("長すぎないのがいい") == ""


@pytest.mark.parametrize(
    ("text", "classified"),
    [
        ("for my son", "out_of_scope"),
        ("my nephew is 12, any ideas", "out_of_scope"),
        ("I'm new to manga", "escalation"),
    ],
)
def test_a_reader_described_gets_suggestions_not_an_ask_back(text: str, classified: str) -> None:
    result = turn(text, common_pb2.DialogueState(), classified, abstained=True)
    assert (result.intent, result.action) == ("product_recommendation", "search")
    assert turn("my wife is angry", common_pb2.DialogueState(), "out_of_scope", abstained=True).action == "clarify"


def test_a_title_named_where_the_classifier_read_a_shop_service_is_a_product_turn() -> None:
    sakura = [mention("cardcaptor-sakura", "カードキャプターさくら")]
    result = turn("カードキャプターさくらはどうでしょう？", common_pb2.DialogueState(), "payment", mentions=sakura)
    assert (
        result.intent in ("product_search", "product_question") and result.state.focus.series_id == "cardcaptor-sakura"
    )
    # (a typo-near name in a service question is no title: 「パスワードリセット」 is not ワートリ)
    near = common_pb2.Mention(series_id="world-trigger", kind="alias", name="ワートリ", score=0.82, fuzzy=True)
    login = turn("パスワードリセットのメールが全然来ない", common_pb2.DialogueState(), "account", mentions=[near])
    assert login.intent == "account"


def test_cheaper_on_its_own_after_a_list_and_a_volume_said_with_a_word_or_two() -> None:
    state = shown_after("finished series 10 volumes or less", ["non-non-biyori", "girls-last-tour"])
    cheaper = turn("cheaper?", state, "payment")
    assert cheaper.intent == "product_recommendation" and superlative("cheaper?") == "cheapest"
    one_piece = turn("one piece 107 english", common_pb2.DialogueState(), mentions=[mention("one-piece", "one piece")])
    assert turn("ok just 107 then", one_piece.state, "greeting").state.focus.volume == 107


def test_a_name_we_lack_asked_the_same_way_is_still_said_not_carried() -> None:
    assert turn("ハリーポッターの漫画ある？", common_pb2.DialogueState(), "product_search").not_carried


@pytest.mark.parametrize(
    ("said", "classified"), [("keep it family friendly", "greeting"), ("全年齢向けのがいい", "escalation")]
)
def test_a_young_reader_said_as_wanted_refines_the_list(said: str, classified: str) -> None:
    state = shown_after("recommend an action manga", ["berserk", "vinland-saga", "kingdom"])
    result = turn(said, state, intent=classified)
    assert result.intent == "product_recommendation" and list(result.state.constraints.genres) == ["action"]
    assert list(result.state.constraints.excluded_genres) == ["horror"]


@pytest.mark.parametrize(
    ("said", "classified"),
    [
        ("hey do you guys sell the straw hat pirates manga", "product_recommendation"),
        ("the manga with Ichigo and the soul reapers", "product_recommendation"),
        ("the boxing manga where the bullied kid becomes a pro", "product_recommendation"),
        ("the ainu gold hunt manga", "product_recommendation"),
    ],
)
def test_one_title_told_by_what_it_is_is_searched_as_that_title(said: str, classified: str) -> None:
    result = turn(said, common_pb2.DialogueState(), intent=classified)
    assert (result.intent, result.action) == ("product_search", "choose")
    assert not result.state.constraints.genres  # its words rank it; a kind they name is no filter


def test_the_best_of_a_kind_asks_for_suggestions() -> None:
    result = turn("what's the best horror manga", common_pb2.DialogueState(), intent="product_recommendation")
    assert (result.intent, result.action) == ("product_recommendation", "search")


def test_the_same_question_of_two_series_in_another_edition_stays_a_question() -> None:
    both = [mention("naruto", "naruto"), mention("bleach", "bleach")]
    asked = turn(
        "what's cheaper per volume, naruto or bleach?", common_pb2.DialogueState(), "product_question", mentions=both
    )
    asked.state.last_shown.extend(["naruto", "bleach"])
    again = turn("and in english?", asked.state, intent="product_search")
    assert again.intent == "product_question" and list(again.state.constraints.only_series) == ["naruto", "bleach"]
    assert again.state.constraints.language == "en"


def test_a_volume_cap_or_finished_said_first_is_understood() -> None:
    assert cues("completed and 12 volumes or under").max_volumes == 12
    assert cues("finished only").status == "completed" and cues("finished it yesterday").status is None


def test_a_length_cap_is_no_place_in_the_list() -> None:
    state = shown_after("じゃあ似たようなスポーツ漫画で", ["haikyu", "slam-dunk", "cross-game"])
    result = turn("完結してて20巻以下のやつ", state, intent="product_recommendation")
    assert not result.state.focus.series_id
    assert (result.state.constraints.max_volumes, result.state.constraints.status) == (20, "completed")


def test_a_kind_ruled_out_after_a_question_of_the_focus_refines_the_request() -> None:
    named = turn("ベルセルクは何巻まで", common_pb2.DialogueState(), mentions=[mention("berserk", "ベルセルク")])
    result = turn("グロいのは苦手かも、ホラー抜きで", named.state, intent="out_of_scope")
    assert not result.state.focus.series_id and "horror" in result.state.constraints.excluded_genres


@pytest.mark.parametrize(
    ("first", "named", "said", "classified", "language"),
    [
        # 「そちら」 points at the one shown
        (
            "薬屋のひとりごとある？",
            ("the-apothecary-diaries", "薬屋のひとりごと"),
            "そちらはもう完結しておりますでしょうか",
            "product_question",
            None,
        ),
        # "the japanese one" (or "raw") is the Japanese edition of the focus
        (
            "sakamoto days saishinkan out yet?",
            ("sakamoto-days", "sakamoto days"),
            "the japanese one I mean, I read raw",
            "out_of_scope",
            "ja",
        ),
    ],
)
def test_a_word_pointing_at_the_series_in_focus_asks_of_it(
    first: str, named: tuple[str, str], said: str, classified: str, language: str | None
) -> None:
    asked = turn(first, common_pb2.DialogueState(), mentions=[mention(*named)])
    result = turn(said, asked.state, intent=classified)
    assert (result.intent, result.state.focus.series_id) == ("product_question", named[0])
    if language is not None:
        assert result.state.focus.language == language


def test_a_question_of_another_one_described_is_asked_of_the_one_found() -> None:
    named = turn(
        "tokyo revengers?", common_pb2.DialogueState(), mentions=[mention("tokyo-revengers", "tokyo revengers")]
    )
    result = turn(
        "oh and the other Tokyo one with the ghouls, is that finished", named.state, intent="product_question"
    )
    assert (result.intent, result.action) == ("product_question", "choose")
    assert not result.state.constraints.HasField("status")  # asked of it, no filter


def test_whether_the_next_volume_is_out_yet_is_a_question() -> None:
    result = turn("よつばと!の新刊まだですか？", common_pb2.DialogueState(), mentions=[mention("yotsuba", "よつばと!")])
    assert result.intent == "product_question"


@pytest.mark.parametrize(
    ("said", "classified"), [("a mystery that's done", "greeting"), ("done series, action", "out_of_scope")]
)
def test_a_kind_and_a_status_read_as_small_talk_are_a_request(said: str, classified: str) -> None:
    result = turn(said, common_pb2.DialogueState(), intent=classified)
    assert result.intent == "product_recommendation" and result.state.constraints.status == "completed"


def test_a_bare_number_with_max_after_fewer_volumes_caps_the_length() -> None:
    asked = turn("any completed cooking manga?", common_pb2.DialogueState(), intent="product_recommendation")
    fewer = turn("fewer volumes, like 15 max", asked.state, intent="product_recommendation")
    assert fewer.state.constraints.max_volumes == 15 and fewer.state.constraints.genres == ["cooking"]
    assert cues("8 tops, under 1000 yen").max_volumes is None  # no volumes said: no length
    assert cues("fewer volumes tho, like 10ish max").max_volumes == 10


def test_the_one_with_a_half_remembered_name_is_that_title_not_suggestions() -> None:
    text = "my daughter wants the one with the little kitten, chi something?"
    result = turn(
        text,
        common_pb2.DialogueState(),
        intent="product_recommendation",
        mentions=[mention("chis-sweet-home", "chi", "partial")],
    )
    assert result.intent == "product_search" and result.state.focus.series_id == "chis-sweet-home"


def test_more_volumes_by_bare_numbers_are_of_the_series_in_focus() -> None:
    tenth = turn(
        "ハイキューの10巻在庫ありますか", common_pb2.DialogueState(), mentions=[mention("haikyu", "ハイキュー")]
    )
    more = turn("11と12もほしい", tenth.state)
    assert more.state.focus.series_id == "haikyu" and more.state.focus.volume == 11 and not more.not_carried


def test_a_sentence_before_the_question_is_no_title_asked_for() -> None:
    asked = turn(
        "I'm looking for a gift, she loves Frieren",
        common_pb2.DialogueState(),
        mentions=[mention("frieren", "Frieren")],
    )
    volume = turn("She reads in English. Is volume 13 available?", asked.state)
    assert volume.state.focus.series_id == "frieren" and volume.state.focus.volume == 13 and not volume.not_carried


def test_one_of_the_kind_in_force_described_and_asked_about_is_a_question_of_it() -> None:
    asked = turn("料理漫画でおすすめありますか？", common_pb2.DialogueState(), intent="product_recommendation")
    one = turn("ダンジョンで魔物食べるやつ、もう完結してる？", asked.state, intent="product_recommendation")
    assert one.intent == "product_question" and one.action == "choose"
    # (those of a kind narrowed stay a refinement: 「バスケのやつで完結してるのは？」)
    sports = turn("スポーツ漫画のおすすめある？", common_pb2.DialogueState(), intent="product_recommendation")
    narrowed = turn("バスケのやつで完結してるのは？", sports.state, intent="product_recommendation")
    assert narrowed.state.constraints.status == "completed" and narrowed.state.constraints.genres == ["sports"]


@pytest.mark.parametrize(
    "text",
    [
        "おすすめの映画おしえて",
        "any good movies?",
        "recommend me a ramen place lol",
        "do you sell light novels",
        "do you have any figures or merch?",
        "グッズはありますか",
    ],
)
def test_films_goods_and_places_to_eat_are_not_the_shops(text: str) -> None:
    assert turn(text, common_pb2.DialogueState(), intent="product_recommendation").intent == "out_of_scope"


@pytest.mark.parametrize(
    "text",
    ["映画化された漫画でおすすめある？", "a gift for a 10 year old who loves video games", "a figure skating manga?"],
)
def test_a_manga_asked_for_beside_a_film_or_a_game_is_still_a_request(text: str) -> None:
    assert turn(text, common_pb2.DialogueState(), intent="product_recommendation").intent == "product_recommendation"


def test_the_kind_one_where_something_happens_is_one_title_recalled() -> None:
    text = "the soccer one where they lock all the strikers up in a facility"
    assert turn(text, common_pb2.DialogueState(), intent="product_recommendation").intent == "product_search"
    best = "the best one where the romance is slow"  # (a superlative asks for suggestions)
    assert turn(best, common_pb2.DialogueState(), intent="product_recommendation").intent == "product_recommendation"


def test_who_wrote_a_named_series_is_a_question_about_it() -> None:
    asked = turn("who wrote monster", common_pb2.DialogueState(), mentions=[mention("monster", "monster")])
    assert asked.intent == "product_question" and asked.state.focus.series_id == "monster"


def test_a_fact_of_the_series_in_focus_checked_is_a_question_not_a_request() -> None:
    oshi = shown_after(
        "推しの子って何巻まで出てる？", ["oshi-no-ko"], "product_question", [mention("oshi-no-ko", "推しの子")]
    )
    same = turn("かぐや様と同じ作者だよね？", oshi, mentions=[mention("kaguya-sama-love-is-war", "かぐや様")])
    assert same.intent == "product_question" and same.state.focus.series_id == "oshi-no-ko"
    assert not same.state.constraints.by_authors_of
    # (another work of theirs asked after is still their works)
    other = turn("same author did a farming one too right?", oshi)
    assert list(other.state.constraints.by_authors_of) == ["oshi-no-ko"]
    jjk = shown_after(
        "jjk how many in english?", ["jujutsu-kaisen"], "product_question", [mention("jujutsu-kaisen", "jjk")]
    )
    count = turn("and japanese goes up to 30 right?", jjk, intent="product_recommendation")
    assert count.intent == "product_question" and count.state.focus.series_id == "jujutsu-kaisen"
    assert count.state.focus.language == "ja" and not count.state.constraints.max_volumes


def test_was_there_a_story_like_this_recalls_one_title() -> None:
    text = "女の子たちがキャンプするやつってありましたっけ"
    assert turn(text, common_pb2.DialogueState(), intent="product_recommendation").intent == "product_search"


def test_like_the_focus_but_shorter_is_shorter_than_it() -> None:
    death_note = shown_after(
        "do you have death note?", ["death-note"], "product_search", [mention("death-note", "death note")]
    )
    shorter = turn("anything like it but shorter", death_note, intent="product_recommendation")
    assert list(shorter.state.constraints.like_series_ids) == ["death-note"]
    assert list(shorter.state.constraints.shorter_than) == ["death-note"]


def test_the_kind_one_with_the_hero_described_is_one_title_sought() -> None:
    text = "hi! do you guys have the pirate one with the rubber guy?"
    assert turn(text, common_pb2.DialogueState(), intent="product_recommendation").intent == "product_search"
