"""The dataset and the trainer behind the shipped artefact: the split, the held-out floors,
the numpy path's parity with scikit-learn, and the card that ships with the artefact."""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.pipeline import Pipeline

from mangaassist.common.vocabulary import INTENTS
from mangaassist.intent.config import DEFAULT_MODEL_PATH
from mangaassist.intent.model import IntentModel
from mangaassist.intent_training import DATASET
from mangaassist.intent_training.card import card_path, render_card
from mangaassist.intent_training.dataset import Example, load_examples
from mangaassist.intent_training.train import (
    EMBEDDER,
    embed,
    export,
    export_fusion,
    fit_fusion,
    fusion_features,
    make_pipeline,
)


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_examples(DATASET)


@pytest.fixture(scope="module")
def model() -> IntentModel:
    return IntentModel.load(DEFAULT_MODEL_PATH)


@pytest.fixture(scope="module")
def small_train(examples: list[Example]) -> list[Example]:
    # Parity of the arithmetic: a twelfth of the train split fits in seconds and exercises every step.
    return [e for e in examples if e.split == "train"][::12]


@pytest.fixture(scope="module")
def small_pipeline(small_train: list[Example]) -> Pipeline:
    """The text head's pipeline fitted once on ``small_train`` (both parity tests read it; neither changes it)."""
    return make_pipeline(8.0).fit([e.text for e in small_train], [e.intent for e in small_train])


def test_dataset_is_split_once_by_family(examples: list[Example]) -> None:
    assert len(examples) >= 1200
    assert {e.intent for e in examples} == set(INTENTS)
    train_families = {e.family for e in examples if e.split == "train"}
    test_families = {e.family for e in examples if e.split == "test"}
    assert train_families and test_families and not train_families & test_families
    for intent in INTENTS:
        for split in ("train", "test"):
            langs = {e.lang for e in examples if e.intent == intent and e.split == split}
            assert {"ja", "en"} <= langs, (intent, split)


def test_shipped_model_was_trained_on_this_dataset_without_the_test_split(
    model: IntentModel, examples: list[Example]
) -> None:
    assert model.metadata["dataset_sha256"] == hashlib.sha256(DATASET.read_bytes()).hexdigest()
    assert model.metadata["train_examples"] == sum(e.split == "train" for e in examples)
    assert set(model.labels) == set(INTENTS)


def test_held_out_accuracy_floor_and_abstention_helps(model: IntentModel, examples: list[Example]) -> None:
    """Unseen template families, both heads: a floor on accuracy, and answered messages are
    more accurate. (The numbers themselves are the benchmark's job.)"""
    test = [e for e in examples if e.split == "test"]
    vectors = embed([e.text for e in test])  # what the retrieval service returns (cached under .cache/)
    # Error-reduction factor per head: the fusion head's 1 % budget cuts the answered error
    # to about a third of the overall error in grouped CV on train (0.116 -> 0.040); the text
    # head's 5 % degraded-mode budget only to about 0.6 (0.193 -> 0.117), so "halve" would
    # ask of it more than its validation promises.
    for vector_or_none, floor, factor in ((None, 0.76, 0.7), (vectors, 0.84, 0.5)):
        predictions = [
            model.predict(e.text, None if vector_or_none is None else vector_or_none[i]) for i, e in enumerate(test)
        ]
        correct = np.array([p.intent == e.intent for p, e in zip(predictions, test, strict=True)])
        answered = np.array([p.confidence >= p.threshold for p in predictions])
        assert correct.mean() >= floor, f"{predictions[0].classifier}: held-out accuracy {correct.mean():.3f}"
        # Abstaining must cut the error rate of what is answered by that factor (a fixed
        # "+5 points" cannot hold once the overall accuracy is above 95 %).
        assert 1.0 - correct[answered].mean() <= factor * (1.0 - correct.mean()), predictions[0].classifier
        assert 0.2 <= answered.mean() < 1.0


def test_numpy_inference_matches_scikit_learn(small_pipeline: Pipeline) -> None:
    pipe = small_pipeline
    exported = export(pipe, temperature=1.0, threshold=0.5, metadata={})
    texts = ["ＯＮＥ ＰＩＥＣＥの105巻ある？", "refund pls!!", "こんにちは😊", "a", "配送  料は？ how much", "zzqx"]
    expected = pipe.predict_proba(texts)
    for text, row in zip(texts, expected, strict=True):
        got = exported.predict(text)
        order = [exported.labels.index(str(c)) for c in pipe.classes_]
        np.testing.assert_allclose(got.probabilities[order], row, atol=1e-5)


def test_numpy_fusion_head_matches_scikit_learn(small_train: list[Example], small_pipeline: Pipeline) -> None:
    """The fusion head's numpy path equals scikit-learn on [n-grams, scale x embedding].

    Parity of the arithmetic only, so the vectors are seeded random unit vectors, not e5's."""
    train = small_train
    rng = np.random.default_rng(7)

    def unit(n: int) -> npt.NDArray[np.float32]:
        v = rng.normal(size=(n, 16)).astype(np.float32)
        out: npt.NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out

    texts = [e.text for e in train]
    pipe, clf = fit_fusion(texts, np.asarray([e.intent for e in train]), unit(len(train)), 8.0, 3.0)
    head = export_fusion(pipe, clf, 3.0, temperature=1.0, threshold=0.5)
    assert head.embedder == EMBEDDER and head.dim == 16
    base = export(small_pipeline, 1.0, 0.5, {})
    exported = IntentModel(base.labels, base.blocks, base.coef, base.intercept, 1.0, 0.5, {}, head)
    probe = ["ＯＮＥ ＰＩＥＣＥの105巻ある？", "refund pls!!", "こんにちは😊", "zzqx"]
    vectors = unit(len(probe))
    expected = clf.predict_proba(fusion_features(pipe.named_steps["features"], probe, vectors, 3.0))
    order = [exported.labels.index(str(c)) for c in clf.classes_]
    for text, vector, row in zip(probe, vectors, expected, strict=True):
        assert exported.accepts(vector, EMBEDDER) and not exported.accepts(vector, "other-embedder")
        got = exported.predict(text, vector)
        assert got.classifier == "fusion"
        np.testing.assert_allclose(got.probabilities[order], row, atol=1e-5)


def test_the_shipped_card_describes_the_shipped_artefact(model: IntentModel) -> None:
    card = card_path(DEFAULT_MODEL_PATH).read_text(encoding="utf-8")
    assert card == render_card(model), "stale card: run python -m mangaassist.intent_training.card"
    assert model.version in card and model.metadata["dataset_sha256"] in card
