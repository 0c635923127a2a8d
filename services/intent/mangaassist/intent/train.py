"""Retrain the intent model: ``python -m mangaassist.intent.train`` (or ``make intent-model``).

Steps, all on the **train** split only (the test split is for the benchmark):

1. choose the regularisation ``C`` by grouped 5-fold cross-validation (folds by
   template family, so paraphrases never sit on both sides of a fold);
2. collect out-of-fold logits at that ``C`` and fit one softmax temperature on them
   (minimum negative log-likelihood), which calibrates the probabilities;
3. choose the abstention threshold on the same out-of-fold probabilities: the lowest
   threshold at which confident-but-wrong answers are at most ``--max-confident-error``
   of all messages (lowest = answer as many messages as that budget allows);
4. fit on the whole train split and export the numpy artefact with its metadata
   (dataset hash, parameters, validation numbers).

scikit-learn is used here only; the service loads the exported arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import FeatureUnion, Pipeline

from mangaassist.intent.config import DATA_DIR, DEFAULT_MODEL_PATH
from mangaassist.intent.model import Block, Example, IntentModel, load_examples, normalise

CHAR_NGRAMS = (1, 3)
WORD_NGRAMS = (1, 2)
C_GRID = (4.0, 8.0, 16.0, 32.0)
FOLDS = 5


def make_pipeline(c: float) -> Pipeline:
    features = FeatureUnion(
        [
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True,
                                     preprocessor=normalise, dtype=np.float32)),
            ("word", TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, sublinear_tf=True,
                                     token_pattern=r"(?u)\b\w+\b", preprocessor=normalise, dtype=np.float32)),
        ]
    )
    return Pipeline([("features", features), ("clf", LogisticRegression(C=c, max_iter=3000))])


def export(pipeline: Pipeline, temperature: float, threshold: float, metadata: dict[str, Any]) -> IntentModel:
    """Copy a fitted pipeline's vocabularies, IDFs and weights into the numpy model."""
    blocks = []
    offset = 0
    for _, vectorizer in pipeline.named_steps["features"].transformer_list:
        vocab = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        blocks.append(Block(vectorizer.analyzer, tuple(vectorizer.ngram_range), vocab,
                            vectorizer.idf_.astype(np.float32), offset))
        offset += len(vocab)
    clf = pipeline.named_steps["clf"]
    return IntentModel(
        tuple(str(c) for c in clf.classes_),
        tuple(blocks),
        np.ascontiguousarray(clf.coef_.T, dtype=np.float32),
        clf.intercept_.astype(np.float32),
        temperature,
        threshold,
        metadata,
    )


def softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def out_of_fold_logits(train: Sequence[Example], c: float) -> tuple[npt.NDArray[np.float64], list[str]]:
    texts = [e.text for e in train]
    y = np.asarray([e.intent for e in train])
    groups = [e.family for e in train]
    labels = sorted(set(y))
    logits = np.zeros((len(train), len(labels)))
    for fit_idx, val_idx in GroupKFold(n_splits=FOLDS).split(texts, y, groups):
        pipe = make_pipeline(c).fit([texts[i] for i in fit_idx], y[fit_idx])
        assert list(pipe.classes_) == labels, "every fold must see every intent"
        logits[val_idx] = pipe.decision_function([texts[i] for i in val_idx])
    return logits, labels


def fit_temperature(logits: npt.NDArray[np.float64], y_idx: npt.NDArray[np.intp]) -> float:
    """The softmax temperature with the lowest negative log-likelihood (grid over log T, step 0.005)."""

    def nll(log_t: float) -> float:
        p = softmax(logits / np.exp(log_t))
        return float(-np.mean(np.log(p[np.arange(len(y_idx)), y_idx] + 1e-12)))

    grid = np.linspace(-3.0, 3.0, 1201)
    return float(np.exp(grid[int(np.argmin([nll(t) for t in grid]))]))


def choose_threshold(confidence: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_], max_error: float) -> float:
    """Lowest threshold whose confident-but-wrong share of all messages is <= ``max_error``."""
    n = len(confidence)
    for t in np.unique(np.concatenate([[0.0], confidence])):
        answered = confidence >= t
        if np.sum(answered & ~correct) / n <= max_error:
            return float(t)
    return 1.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATA_DIR / "intents.jsonl")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    # The goal is 1 %; on novel phrasings this model then asks back on ~3 of 4
    # messages (see bench/intent.py), so the shipped operating point allows 10 %.
    parser.add_argument("--max-confident-error", type=float, default=0.10,
                        help="share of messages allowed to be answered confidently but wrongly (validation)")
    args = parser.parse_args(argv)

    raw = args.dataset.read_bytes()
    train = [e for e in load_examples(args.dataset) if e.split == "train"]
    y = np.asarray([e.intent for e in train])

    cv_accuracy: dict[str, float] = {}
    best: tuple[float, float, npt.NDArray[np.float64], list[str]] | None = None
    for c in C_GRID:
        logits, labels = out_of_fold_logits(train, c)
        acc = float(np.mean(np.asarray(labels)[logits.argmax(axis=1)] == y))
        cv_accuracy[str(c)] = round(acc, 4)
        print(f"C={c:<5} grouped {FOLDS}-fold accuracy {acc:.4f}", file=sys.stderr)
        if best is None or acc > best[1]:
            best = (c, acc, logits, labels)
    assert best is not None
    c, acc, logits, labels = best
    y_idx = np.asarray([labels.index(v) for v in y])
    temperature = fit_temperature(logits, y_idx)
    probs = softmax(logits / temperature)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_idx
    threshold = choose_threshold(confidence, correct, args.max_confident_error)
    answered = confidence >= threshold

    digest = hashlib.sha256(raw).hexdigest()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    metadata: dict[str, Any] = {
        "version": f"intent-linear-{stamp}-{digest[:8]}",
        "trained_at": stamp,
        "dataset_sha256": digest,
        "train_examples": len(train),
        "params": {"C": c, "char_ngrams": list(CHAR_NGRAMS), "word_ngrams": list(WORD_NGRAMS)},
        "validation": {
            "method": f"grouped {FOLDS}-fold on the train split (by family)",
            "accuracy_by_C": cv_accuracy,
            "accuracy": round(acc, 4),
            "temperature": round(temperature, 4),
            "threshold": round(threshold, 4),
            "max_confident_error": args.max_confident_error,
            "coverage": round(float(answered.mean()), 4),
            "answered_accuracy": round(float(correct[answered].mean()) if answered.any() else 0.0, 4),
        },
    }
    model = export(make_pipeline(c).fit([e.text for e in train], y), temperature, threshold, metadata)
    model.save(args.out)
    print(json.dumps(metadata, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
