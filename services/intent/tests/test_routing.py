"""Routing is data: base routes per intent, upgrades on features, abstention."""

import pytest

from mangaassist.common.vocabulary import INTENTS
from mangaassist.intent.routing import BASE_ROUTES, HAIKU, NONE, SONNET, decide, extract_features


def test_every_intent_has_a_route() -> None:
    assert set(BASE_ROUTES) == set(INTENTS)


def test_simple_questions_use_haiku_and_greetings_no_model() -> None:
    assert decide("product_search", extract_features("One Piece 105巻ある？", 0), False).route == HAIKU
    assert decide("greeting", extract_features("hello", 0), False).route == NONE


def test_comparison_and_multi_constraint_use_sonnet() -> None:
    compare = decide("product_recommendation", extract_features("Berserk vs Vagabond, which is better?", 0), False)
    assert compare.route == SONNET and "comparison" in compare.features
    multi = extract_features("2000円以下で英語版のホラー以外のファンタジーを", 0)
    assert "multi_constraint" in multi
    assert decide("product_recommendation", multi, False).route == SONNET


def test_long_conversation_upgrades_product_intents_only() -> None:
    features = extract_features("what else?", 8)
    assert "long_context" in features
    assert decide("product_recommendation", features, False).route == SONNET
    assert decide("shipping_info", features, False).route == HAIKU


def test_abstention_asks_instead_of_guessing() -> None:
    decision = decide("product_search", [], True)
    assert decision.route == NONE and "abstain" in decision.features and decision.reason


def test_abstention_weighs_the_handling_not_one_intent_in_it() -> None:
    from mangaassist.intent.routing import handling_confidence

    # Unsure which product intent, sure it is a product question: answer it (search + model).
    split = [("product_search", 0.5), ("product_question", 0.45), ("greeting", 0.05)]
    assert handling_confidence(split) == pytest.approx(0.95)
    # Intents with handlers of their own count alone.
    assert handling_confidence([("greeting", 0.6), ("product_search", 0.4)]) == pytest.approx(0.6)
    assert handling_confidence([("shipping_info", 0.5), ("return_refund", 0.5)]) == pytest.approx(0.5)
