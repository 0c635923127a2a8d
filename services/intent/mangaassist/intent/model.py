"""The intent classifier: character n-gram TF-IDF + multinomial logistic regression.

Character n-grams work for Japanese (no word boundaries) and English alike, tolerate
typos and romaji, and score a message in well under a millisecond. Logistic
regression gives a probability per intent, which the abstention threshold uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    lang: str
    family: str


def load_examples(path: Path) -> list[Example]:
    """Read the labelled JSONL dataset."""
    examples = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                examples.append(
                    Example(row["text"], row["intent"], row.get("lang", ""), row.get("family", ""))
                )
    return examples


def normalise(text: str) -> str:
    """Fold width variants (ＡＢＣ→ABC, ｶﾅ→カナ) and case so n-grams match across styles."""
    import unicodedata

    return unicodedata.normalize("NFKC", text).lower()


class IntentModel:
    """Trainable classifier returning a probability for every intent."""

    def __init__(self, c: float = 8.0) -> None:
        features = FeatureUnion(
            [
                ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True,
                                         min_df=1, preprocessor=normalise)),
                ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                         token_pattern=r"(?u)\b\w+\b", preprocessor=normalise)),
            ]
        )
        self._pipeline = Pipeline(
            [("features", features), ("clf", LogisticRegression(C=c, max_iter=2000))]
        )
        self.labels: list[str] = []

    def fit(self, examples: list[Example]) -> IntentModel:
        self._pipeline.fit([e.text for e in examples], [e.intent for e in examples])
        self.labels = [str(label) for label in self._pipeline.classes_]
        return self

    def predict_proba(self, text: str) -> dict[str, float]:
        """Probability per intent (sums to 1)."""
        probs = self._pipeline.predict_proba([text])[0]
        return {label: float(p) for label, p in zip(self.labels, probs, strict=True)}

    def predict_many(self, texts: list[str]) -> list[str]:
        probs = self._pipeline.predict_proba(texts)
        return [self.labels[i] for i in np.argmax(probs, axis=1)]
