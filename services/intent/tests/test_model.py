"""The intent classifier on our labelled dataset: held-out accuracy and plain examples."""

from __future__ import annotations

import random

import pytest

from mangaassist.common.vocabulary import INTENTS
from mangaassist.intent.config import IntentSettings
from mangaassist.intent.model import Example, IntentModel, load_examples


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_examples(IntentSettings().dataset_path)


@pytest.fixture(scope="module")
def model(examples: list[Example]) -> IntentModel:
    return IntentModel().fit(examples)


def test_dataset_covers_every_intent_in_both_languages(examples: list[Example]) -> None:
    assert {e.intent for e in examples} == set(INTENTS)
    for intent in INTENTS:
        langs = {e.lang for e in examples if e.intent == intent}
        assert {"ja", "en"} <= langs, intent


def test_held_out_families_are_classified(examples: list[Example]) -> None:
    """Split by template family so paraphrases of a test message never appear in training."""
    families = sorted({e.family for e in examples})
    random.Random(7).shuffle(families)
    test_families = set(families[: len(families) // 5])
    train = [e for e in examples if e.family not in test_families]
    test = [e for e in examples if e.family in test_families]
    predicted = IntentModel().fit(train).predict_many([e.text for e in test])
    accuracy = sum(p == e.intent for p, e in zip(predicted, test, strict=True)) / len(test)
    assert accuracy >= 0.75, f"held-out accuracy {accuracy:.3f}"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("おすすめのダークファンタジーは？", "product_recommendation"),
        ("Can you recommend a manga like Berserk?", "product_recommendation"),
        ("注文 123-4567890-1234567 はいつ届きますか", "order_status"),
        ("Where is my order? It still hasn't arrived", "order_status"),
        ("こんにちは", "greeting"),
        ("返品したいです", "return_refund"),
        ("オペレーターにつないでください", "escalation"),
        ("What's the weather in Tokyo tomorrow?", "out_of_scope"),
    ],
)
def test_plain_messages(model: IntentModel, text: str, intent: str) -> None:
    probs = model.predict_proba(text)
    assert max(probs, key=lambda k: probs[k]) == intent
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
