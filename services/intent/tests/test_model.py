"""The shipped intent model artefact: confident on plain messages, explains itself, refuses bad artefacts.

Its quality on held-out data and its parity with scikit-learn are the training package's tests
(tools/intent-training/tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mangaassist.intent.config import DEFAULT_MODEL_PATH
from mangaassist.intent.model import IntentModel, ModelError


@pytest.fixture(scope="module")
def model() -> IntentModel:
    return IntentModel.load(DEFAULT_MODEL_PATH)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Can you recommend a manga like Berserk?", "product_recommendation"),
        ("注文 123-4567890-1234567 はいつ届きますか", "order_status"),
        ("Where is my order? It still hasn't arrived", "order_status"),
        ("こんにちは", "greeting"),
        ("返品したいです", "return_refund"),
        ("オペレーターにつないでください", "escalation"),
        ("送料はいくらですか", "shipping_info"),
        ("Can I pay with PayPay?", "payment"),
    ],
)
def test_plain_messages_are_confident(model: IntentModel, text: str, intent: str) -> None:
    prediction = model.predict(text)
    assert prediction.intent == intent
    assert prediction.confidence >= model.threshold
    assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-6)


def test_gibberish_is_not_confident(model: IntentModel) -> None:
    assert model.predict("qwxz vbnm").confidence < model.threshold


def test_explanation_names_the_words_that_decided(model: IntentModel) -> None:
    features = model.explain("I want a refund for my damaged book", "return_refund", top=5)
    assert features and all(weight > 0 for _, weight in features)
    assert any("refund" in name for name, _ in features)
    assert features[0][0] == "lexicon:refund"  # the domain keyword group decided


def test_round_trip_and_bad_artefacts_are_refused(model: IntentModel, tmp_path: Path) -> None:
    copy = tmp_path / "m.npz"
    model.save(copy)
    again = IntentModel.load(copy)
    assert again.version == model.version and again.threshold == model.threshold
    np.testing.assert_allclose(again.predict("返品したい").probabilities, model.predict("返品したい").probabilities)

    assert again.fusion is not None and model.fusion is not None
    vector = np.full(model.fusion.dim, model.fusion.dim**-0.5, dtype=np.float32)
    np.testing.assert_allclose(
        again.predict("返品したい", vector).probabilities, model.predict("返品したい", vector).probabilities
    )

    with pytest.raises(ModelError, match="not found"):
        IntentModel.load(tmp_path / "missing.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(copy.read_bytes()[:2000])
    with pytest.raises(ModelError, match="corrupt"):
        IntentModel.load(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("not a model")
    with pytest.raises(ModelError):
        IntentModel.load(garbage)
