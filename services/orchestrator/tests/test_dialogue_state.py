"""The dialogue state as the orchestrator carries it: stored, decoded, turned into a search."""

from __future__ import annotations

import logging

import pytest

from mangaassist.orchestrator.dialogue import MAX_DISCUSSED, STATE_VERSION, decode_state, search_plan, with_shown
from mangaassist.orchestrator.sessions import MAX_STATE_BYTES, InMemorySessionStore, Session, Turn
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2


def resolved(**state_fields: object) -> intent_pb2.ResolvedRequest:
    return intent_pb2.ResolvedRequest(
        state=common_pb2.DialogueState(version=STATE_VERSION, **state_fields), action="search"
    )


def test_corrupt_or_older_state_starts_a_new_topic_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert decode_state(b"\xff\xfe not a protobuf") == common_pb2.DialogueState()
        older = common_pb2.DialogueState(version=STATE_VERSION - 1, intent="product_search").SerializeToString()
        assert decode_state(older) == common_pb2.DialogueState()
    assert len(caplog.records) == 2
    assert decode_state(b"") == common_pb2.DialogueState()


def test_the_focus_restricts_the_search_to_its_series_edition_and_volume() -> None:
    plan = search_plan(
        common_pb2.SearchFilters(), resolved(focus=common_pb2.Focus(series_id="kingdom", language="en", volume=3))
    )
    assert list(plan.filters.series_ids) == ["kingdom"] and plan.filters.language == "en" and plan.volume == 3
    assert plan.applied == {
        "focus": {"series_id": "kingdom", "language": "en", "volume": 3},
        "constraints": {"language": "en"},
    }


def test_constraints_in_force_fill_what_the_client_left_unset() -> None:
    constraints = common_pb2.Constraints(
        genres=["romance"],
        excluded_genres=["horror"],
        max_price_jpy=599,
        status="completed",
        max_volumes=9,
        excluded_series=["nana"],
    )
    client = common_pb2.SearchFilters(max_price_jpy=2000)
    plan = search_plan(client, resolved(constraints=constraints))
    f = plan.filters
    assert f.max_price_jpy == 2000  # the client's own filter wins
    assert list(f.genres) == ["romance"] and list(f.excluded_genres) == ["horror"]
    assert (f.status, f.max_volumes, list(f.exclude_series_ids)) == ("completed", 9, ["nana"])
    assert plan.applied["constraints"]["max_price_jpy"] == 599


def test_like_x_asks_retrieval_for_similar_series() -> None:
    plan = search_plan(
        common_pb2.SearchFilters(), resolved(constraints=common_pb2.Constraints(like_series_ids=["dandadan"]))
    )
    assert plan.like_series_ids == ["dandadan"]


def test_the_stored_state_remembers_what_was_shown_and_a_chosen_series() -> None:
    choose = intent_pb2.ResolvedRequest(
        state=common_pb2.DialogueState(
            version=STATE_VERSION, constraints=common_pb2.Constraints(only_series=["a", "b"])
        ),
        action="choose",
    )
    stored = common_pb2.DialogueState.FromString(with_shown(choose, ["b", "a"]))
    assert stored.focus.series_id == "b" and not stored.constraints.only_series
    assert list(stored.last_shown) == ["b", "a"]
    assert list(stored.discussed) == ["b"]


def test_the_series_talked_about_are_kept_in_order_the_first_always() -> None:
    state = common_pb2.DialogueState(version=STATE_VERSION)
    for series_id in ["s0", "s1", "s0", *(f"s{i}" for i in range(2, 12))]:
        state.focus.series_id = series_id
        state = common_pb2.DialogueState.FromString(with_shown(intent_pb2.ResolvedRequest(state=state), [series_id]))
    assert state.discussed[0] == "s0" and len(state.discussed) == MAX_DISCUSSED
    assert list(state.discussed[1:]) == [f"s{i}" for i in range(12 - MAX_DISCUSSED + 1, 12)]


async def test_the_state_is_stored_with_the_turn_and_bounded() -> None:
    store = InMemorySessionStore(max_sessions=10, ttl_s=60)
    state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search").SerializeToString()
    await store.append("s-1", Turn(None, "product_search", "Kingdom", "Here it is.", state=state))
    assert (await store.load("s-1")).state == state
    await store.append("s-1", Turn(None, "greeting", "hi", "hello"))  # no new state: the stored one is kept
    assert (await store.load("s-1")).state == state
    huge = Session("s-2").with_turn(Turn(None, "x", "q", "a", state=b"x" * (MAX_STATE_BYTES + 1)))
    assert huge.state == b""


def test_a_refinement_searches_with_its_requests_words_and_the_latest_shown_is_counted() -> None:
    refining = resolved(topic="into samurai stuff", constraints=common_pb2.Constraints(max_volumes=10))
    refining.follow_up = True
    assert search_plan(common_pb2.SearchFilters(), refining).topic == "into samurai stuff"
    refining.follow_up = False  # a new request is searched with its own words
    assert search_plan(common_pb2.SearchFilters(), refining).topic == ""
    latest = resolved(focus=common_pb2.Focus(series_id="yona-of-the-dawn", latest_volume=True))
    stored = common_pb2.DialogueState.FromString(with_shown(latest, ["yona-of-the-dawn"], shown_volume=45))
    assert stored.focus.latest_volume and stored.focus.latest_shown == 45


def test_a_choice_with_a_volume_searches_that_volume_of_each_series_offered() -> None:
    choosing = intent_pb2.ResolvedRequest(
        state=common_pb2.DialogueState(
            version=STATE_VERSION,
            focus=common_pb2.Focus(volume=1, language="en"),
            constraints=common_pb2.Constraints(only_series=["slam-dunk", "haikyu"]),
        ),
        action="choose",
    )
    plan = search_plan(common_pb2.SearchFilters(), choosing)
    assert plan.volume == 1 and plan.filters.language == "en"
    assert list(plan.filters.series_ids) == ["slam-dunk", "haikyu"]
    stored = common_pb2.DialogueState.FromString(with_shown(choosing, ["slam-dunk", "haikyu"]))
    assert (stored.focus.series_id, stored.focus.volume) == ("slam-dunk", 1) and not stored.constraints.only_series


def test_a_description_of_one_offered_may_mean_a_series_outside_them_an_order_may_not() -> None:
    describing = intent_pb2.ResolvedRequest(
        state=common_pb2.DialogueState(
            version=STATE_VERSION, constraints=common_pb2.Constraints(only_series=["food-wars", "oishinbo"])
        ),
        action="choose",
    )
    assert search_plan(common_pb2.SearchFilters(), describing).described
    describing.order = "cheapest"  # "the cheapest of those": one of them, by price
    assert not search_plan(common_pb2.SearchFilters(), describing).described


def test_an_answer_to_which_one_is_one_of_those_asked_between() -> None:
    answering = intent_pb2.ResolvedRequest(
        state=common_pb2.DialogueState(
            version=STATE_VERSION, constraints=common_pb2.Constraints(only_series=["skip-beat", "skip-and-loafer"])
        ),
        action="choose",
        offered_only=True,
    )
    assert not search_plan(common_pb2.SearchFilters(), answering).described
