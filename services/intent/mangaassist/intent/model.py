"""The served intent classifier: a trained linear model over character and word n-grams, numpy only.

Training (``mangaassist.intent.train``) fits scikit-learn's TF-IDF + logistic
regression once and exports it to a versioned ``.npz`` artefact. Serving re-implements
the few steps that inference needs — NFKC + lower-case, ``char_wb`` and word n-grams,
sublinear TF x IDF, L2 norm, one sparse dot product, temperature-scaled softmax — with
plain Python dicts and numpy. That keeps scikit-learn off the hot path (its
per-call validation costs ~1.3 ms; this path costs tens of microseconds) and out of
the serving process. A test checks the two give the same probabilities.

Character n-grams work for Japanese (no word boundaries) and English alike and
tolerate typos and romaji; the temperature (fitted on out-of-fold predictions) makes
the probabilities calibrated, and the abstention threshold stored with the model was
chosen on the same validation predictions.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT = "mangaassist-intent-linear/1"
_WHITESPACE = re.compile(r"\s\s+")
_WORD = re.compile(r"(?u)\b\w+\b")


class ModelError(Exception):
    """The model artefact is missing, unreadable or inconsistent: the service must not start."""


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    lang: str
    family: str
    split: str = "train"


def load_examples(path: Path) -> list[Example]:
    """Read the labelled JSONL dataset."""
    examples = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                examples.append(
                    Example(row["text"], row["intent"], row.get("lang", ""), row.get("family", ""),
                            row.get("split", "train"))
                )
    return examples


def normalise(text: str) -> str:
    """Fold width variants (ＡＢＣ→ABC, ｶﾅ→カナ) and case so n-grams match across styles."""
    return unicodedata.normalize("NFKC", text).lower()


def char_wb_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """scikit-learn's ``char_wb`` analyzer: n-grams inside space-padded words."""
    out: list[str] = []
    for word in _WHITESPACE.sub(" ", text).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(min_n, max_n + 1):
            offset = 0
            out.append(padded[offset : offset + n])
            while offset + n < length:
                offset += 1
                out.append(padded[offset : offset + n])
            if offset == 0:  # the word is shorter than n: counted once
                break
    return out


def word_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """scikit-learn's ``word`` analyzer with the ``\\b\\w+\\b`` token pattern."""
    tokens = _WORD.findall(text)
    if max_n == 1:
        return tokens
    out = list(tokens) if min_n == 1 else []
    for n in range(max(min_n, 2), max_n + 1):
        out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


@dataclass(frozen=True)
class Block:
    """One TF-IDF feature block: its analyzer, vocabulary and IDF, and where it sits in the weights."""

    analyzer: str  # "char_wb" or "word"
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: npt.NDArray[np.float32]
    offset: int

    def ngrams(self, folded: str) -> list[str]:
        lo, hi = self.ngram_range
        return char_wb_ngrams(folded, lo, hi) if self.analyzer == "char_wb" else word_ngrams(folded, lo, hi)

    def features(self, folded: str) -> tuple[list[int], list[float]]:
        """Column indices and L2-normalised sublinear TF-IDF values of the n-grams present."""
        counts = Counter(self.ngrams(folded))
        idx: list[int] = []
        vals: list[float] = []
        for gram, count in counts.items():
            j = self.vocabulary.get(gram)
            if j is not None:
                idx.append(j)
                vals.append((1.0 + math.log(count)) * float(self.idf[j]))
        norm = math.sqrt(sum(v * v for v in vals))
        if norm > 0:
            vals = [v / norm for v in vals]
        return [j + self.offset for j in idx], vals


@dataclass(frozen=True)
class Prediction:
    """Calibrated probabilities (label order of the model) and the winning intent."""

    probabilities: npt.NDArray[np.float64]
    labels: tuple[str, ...]

    @property
    def intent(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))

    def ranked(self) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities, kind="stable")
        return [(self.labels[i], float(self.probabilities[i])) for i in order]


class IntentModel:
    """The exported linear model; immutable after loading."""

    def __init__(
        self,
        labels: tuple[str, ...],
        blocks: tuple[Block, ...],
        coef: npt.NDArray[np.float32],
        intercept: npt.NDArray[np.float32],
        temperature: float,
        threshold: float,
        metadata: dict[str, Any],
    ) -> None:
        n_features = sum(len(b.vocabulary) for b in blocks)
        if coef.shape != (n_features, len(labels)) or intercept.shape != (len(labels),):
            raise ModelError(
                f"weights have shape {coef.shape} / {intercept.shape}, expected ({n_features}, {len(labels)})"
            )
        if not (temperature > 0 and 0.0 <= threshold <= 1.0):
            raise ModelError(f"bad calibration values (temperature {temperature}, threshold {threshold})")
        self.labels = labels
        self.blocks = blocks
        self.coef = coef
        self.intercept = intercept
        self.temperature = temperature
        self.threshold = threshold
        self.metadata = metadata
        self._names: list[str] | None = None

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", ""))

    def features(self, text: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        folded = normalise(text)
        idx: list[int] = []
        vals: list[float] = []
        for block in self.blocks:
            i, v = block.features(folded)
            idx.extend(i)
            vals.extend(v)
        return np.asarray(idx, dtype=np.intp), np.asarray(vals, dtype=np.float32)

    def logits(self, text: str) -> npt.NDArray[np.float64]:
        idx, vals = self.features(text)
        z = self.intercept.astype(np.float64)
        if idx.size:
            z = z + (vals @ self.coef[idx]).astype(np.float64)
        return z

    def predict(self, text: str) -> Prediction:
        z = self.logits(text) / self.temperature
        z -= z.max()
        p = np.exp(z)
        return Prediction(p / p.sum(), self.labels)

    def explain(self, text: str, intent: str, top: int = 5) -> list[tuple[str, float]]:
        """The n-grams that pushed ``intent`` up most: (feature, contribution to its logit)."""
        idx, vals = self.features(text)
        if not idx.size:
            return []
        k = self.labels.index(intent)
        contrib = vals * self.coef[idx, k]
        names = self._feature_names()
        order = np.argsort(-contrib, kind="stable")[:top]
        return [(names[int(idx[i])], float(contrib[i])) for i in order if contrib[i] > 0]

    def _feature_names(self) -> list[str]:
        if self._names is None:
            names = [""] * self.coef.shape[0]
            for block in self.blocks:
                prefix = "char" if block.analyzer == "char_wb" else "word"
                for gram, j in block.vocabulary.items():
                    names[block.offset + j] = f"{prefix}:{gram!r}"
            self._names = names
        return self._names

    def save(self, path: Path) -> None:
        """Write the artefact (one compressed ``.npz``, no pickles)."""
        arrays: dict[str, Any] = {
            "labels": np.asarray(self.labels),
            "coef": self.coef,
            "intercept": self.intercept,
            "calibration": np.asarray([self.temperature, self.threshold], dtype=np.float64),
        }
        spec = []
        for i, block in enumerate(self.blocks):
            grams = sorted(block.vocabulary, key=block.vocabulary.__getitem__)
            arrays[f"vocab_{i}"] = np.asarray(grams)
            arrays[f"idf_{i}"] = block.idf
            spec.append({"analyzer": block.analyzer, "ngram_range": list(block.ngram_range)})
        meta = {**self.metadata, "format": FORMAT, "blocks": spec}
        arrays["metadata"] = np.asarray(json.dumps(meta, ensure_ascii=False, sort_keys=True))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Read an artefact written by :meth:`save`; any problem is a :class:`ModelError`."""
        if not path.is_file():
            raise ModelError(f"model file {path.name!r} not found (run 'make intent-model' to train it)")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["metadata"]))
                if meta.get("format") != FORMAT:
                    raise ModelError(f"model file {path.name!r} has format {meta.get('format')!r}, expected {FORMAT!r}")
                blocks = []
                offset = 0
                for i, spec in enumerate(meta["blocks"]):
                    grams = [str(g) for g in data[f"vocab_{i}"]]
                    idf = data[f"idf_{i}"].astype(np.float32)
                    if len(grams) != idf.shape[0]:
                        raise ModelError(f"block {i}: {len(grams)} n-grams but {idf.shape[0]} IDF values")
                    lo, hi = spec["ngram_range"]
                    blocks.append(Block(spec["analyzer"], (int(lo), int(hi)),
                                        {g: j for j, g in enumerate(grams)}, idf, offset))
                    offset += len(grams)
                temperature, threshold = (float(x) for x in data["calibration"])
                model = cls(
                    tuple(str(label) for label in data["labels"]),
                    tuple(blocks),
                    data["coef"].astype(np.float32),
                    data["intercept"].astype(np.float32),
                    temperature,
                    threshold,
                    meta,
                )
        except ModelError:
            raise
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ModelError(f"model file {path.name!r} is unreadable or corrupt: {type(exc).__name__}") from None
        if not np.all(np.isfinite(model.coef)) or not np.all(np.isfinite(model.intercept)):
            raise ModelError(f"model file {path.name!r} holds non-finite weights")
        return model
