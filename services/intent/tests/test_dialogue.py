"""The dialogue policy: each turn resolved against the state before it (no process needed)."""

from __future__ import annotations

from mangaassist.intent.dialogue import STATE_VERSION, Resolution, resolve, unlinked_title
from mangaassist.intent.entities import extract
from mangaassist.proto.common.v1 import common_pb2


def mention(series_id: str, name: str, kind: str = "title", start: int = 0, author_series: tuple[str, ...] = ()
            ) -> common_pb2.Mention:
    return common_pb2.Mention(series_id=series_id, kind=kind, name=name, score=1.0, start=start,
                              end=start + len(name), author_series=author_series)


def turn(text: str, state: common_pb2.DialogueState, intent: str = "product_search", abstained: bool = False,
         mentions: list[common_pb2.Mention] | None = None, previous_intent: str = "") -> Resolution:
    entities = extract(text)
    return resolve(text, intent, abstained, entities, mentions or [], state,
                   not mentions and unlinked_title(text, entities), previous_intent)


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


def test_a_new_request_starts_a_new_topic() -> None:
    state = turn("Do you have Kingdom?", common_pb2.DialogueState(), mentions=[mention("kingdom", "Kingdom")]).state
    cooking = turn("ah ok nvm. do you have anything about cooking", state, intent="product_recommendation")
    assert not cooking.state.HasField("focus") and list(cooking.state.constraints.genres) == ["cooking"]


def test_like_x_recommends_from_x_and_never_x() -> None:
    result = turn("I enjoyed Dandadan, anything similar?", common_pb2.DialogueState(),
                  mentions=[mention("dandadan", "Dandadan", start=10)])
    assert result.action == "similar" and result.intent == "product_recommendation"
    assert list(result.state.constraints.like_series_ids) == ["dandadan"]


def test_a_title_containing_like_is_no_like_request() -> None:
    result = turn("do you have march comes in like a lion", common_pb2.DialogueState(),
                  mentions=[mention("march-comes-in-like-a-lion", "March Comes in Like a Lion", start=12)])
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
    assert chosen.action == "choose" and list(chosen.state.constraints.only_series) == ["a-series", "b-series"]


def test_ruled_out_series_are_excluded() -> None:
    state = turn("小学生の息子に漫画を買ってあげたいです", common_pb2.DialogueState(), abstained=True).state
    result = turn("ドラえもんはもう持ってます", state, intent="product_search",
                  mentions=[mention("doraemon", "ドラえもん")])
    assert list(result.state.constraints.excluded_series) == ["doraemon"] and not result.state.HasField("focus")


def test_state_of_another_format_is_ignored() -> None:
    old = common_pb2.DialogueState(version=STATE_VERSION + 1, intent="product_search")
    old.focus.series_id = "kingdom"
    result = turn("how many volumes are out?", old, abstained=True)
    assert not result.state.HasField("focus") and result.state.version == STATE_VERSION


def test_an_unsure_follow_up_of_a_shop_question_continues_it() -> None:
    result = turn("how long does it usually take", common_pb2.DialogueState(), intent="out_of_scope",
                  abstained=True, previous_intent="shipping_info")
    assert result.intent == "shipping_info" and result.action == "answer"


def test_resolution_is_bounded_on_the_worst_inputs() -> None:
    """Extraction plus resolution, against ordinary text of the same length."""
    from mangaassist.devtools.cpu import assert_no_worse_than_ordinary

    worst = ["⑳" * 4000, "9" * 4000, "not horror " * 360, "like " * 800, "最新刊" * 1300, "under 10 volumes " * 230]
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search")
    state.focus.series_id = "kingdom"

    def turn(text: str) -> object:
        entities = extract(text)
        return resolve(text, "product_search", False, entities, [mention("kingdom", "Kingdom")], state,
                       unlinked_title(text, entities))

    for text in worst:
        assert_no_worse_than_ordinary(turn, text, runs=3)


def test_asking_for_others_rules_out_what_was_just_seen() -> None:
    shown = common_pb2.DialogueState(version=STATE_VERSION, intent="product_recommendation",
                                     last_shown=["natsumes-book-of-friends", "mushishi"])
    shown.constraints.genres.append("supernatural")
    result = turn("妖怪が出てくる優しい話、他にもある？", shown, intent="product_recommendation")
    assert {"natsumes-book-of-friends", "mushishi"} <= set(result.state.constraints.excluded_series)
    same = turn("only completed ones", shown, intent="product_search", abstained=True)
    assert not same.state.constraints.excluded_series  # a refinement without "other" keeps them
