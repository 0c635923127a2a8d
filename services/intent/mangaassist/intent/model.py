"""The served intent classifier: a trained linear model over character and word n-grams, numpy only.

Training (``mangaassist.intent_training.train``) fits scikit-learn's TF-IDF + logistic
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

The artefact holds two heads over the same n-gram features. The **text** head uses the
n-grams alone. The **fusion** head also reads the multilingual-e5-small query embedding
that the orchestrator already gets from the retrieval service for the search and the
semantic cache (so it costs this service one 384 x 11 product, not an embedding): it
generalises to phrasings the n-grams never saw (+9 points of grouped cross-validation
accuracy). Each head has its own temperature and threshold; the fusion head is used
only when the embedding comes from the embedder it was trained with.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mangaassist.common.text import fold

FORMAT = "mangaassist-intent-linear/2"
_WHITESPACE = re.compile(r"\s\s+")
_WORD = re.compile(r"(?u)\b\w+\b")
_TAG = re.compile(r"zz([a-z]+)zz")


class ModelError(Exception):
    """The model artefact is missing, unreadable or inconsistent: the service must not start."""


# Domain keyword groups, written from the label definitions in the DATASHEET (not from
# the test split). A message that hits a group gets a tag token (``zzrefundzz``) added
# before vectorising, so the model can learn "a refund word is present" once instead of
# from each spelling's n-grams separately: +3.5 points of grouped cross-validation
# accuracy on the train split. The lexicon is part of the model: its hash is stored in
# the artefact and checked at load.
LEXICON: dict[str, str] = {
    "refund": r"返品|返金|交換|refund|return|exchange|damaged|破損|汚れ|落丁|乱丁|間違っ|wrong (?:item|book|volume)|defect|不良|破れ|torn|misprint",
    "order": r"注文|order|届かない|届いてない|まだ届|追跡|tracking|発送され|shipped|my package|荷物|配達状況|キャンセル|cancel",
    "shipping": r"送料|配送|shipping|deliver|届くまで|何日|海外|international|overseas|customs|関税|コンビニ受け取り|置き配|日時指定|ship to|発送",
    "payment": r"支払|払い|決済|\bpay|card|カード|クレジット|paypay|ポイント|points?\b|coupon|クーポン|領収書|receipt|invoice|請求|charged|代引|振込",
    "account": r"アカウント|ログイン|login|log in|sign in|password|パスワード|メールアドレス|e-?mail|会員|退会|sign up|登録|二段階|2fa|newsletter|メルマガ|profile|プロフィール|username",
    "greeting": r"^(?:hi|hello|hey|yo|こんにちは|こんばんは|おはよう|ありがとう|thanks|thank you|bye|さようなら|よろしく|ok|了解)|bot\b|ボット|何ができ|what can you do",
    "escalation": r"人間|担当者|オペレーター|上司|責任者|human|agent|manager|supervisor|complain|苦情|クレーム|訴え|lawyer|弁護士|電話|phone|review|レビュー|消費者センター|最悪|worst|ふざけ|unacceptable|real person|contact",
    "recommend": r"おすすめ|オススメ|お勧め|recommend|suggest|似た|みたいな|similar|プレゼント|gift|何を読|what should i read|ハマる|面白い(?:の|やつ)|looking for something|something like",
    "search": r"在庫|in stock|stock|ありますか|ある\?|売って|sell|予約|pre-?order|入荷|restock|isbn|発売日|release|edition|版|セット|box set|グッズ|merch",
    "question": r"何巻|完結|finished|ended|how many volumes|作者|author|出版社|publisher|あらすじ|plot|about\?|年齢|age|ふりがな|furigana|読む順|reading order|ページ|pages|違い|difference|worth|アニメ化|全何巻",
    "oos": r"天気|weather|宿題|homework|code|python|javascript|レシピ|recipe|政治|politic|joke|冗談|旅行|travel|声優|voice actor|配信|stream|netflix|無料で読|free online|漫画村|raw|歌|song|株|stock market|ゲーム|game",
}
_LEXICON_RES = tuple((name, re.compile(pattern)) for name, pattern in LEXICON.items())
LEXICON_SHA256 = hashlib.sha256(json.dumps(LEXICON, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def with_lexicon_tags(text: str) -> str:
    """The model's preprocessor: the shared ``fold`` (ＡＢＣ→abc, ｶﾅ→カナ) so n-grams match
    across styles, then one tag token per lexicon group that fires."""
    folded = fold(text)
    tags = [f"zz{name}zz" for name, pattern in _LEXICON_RES if pattern.search(folded)]
    return f"{folded} {' '.join(tags)}" if tags else folded


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
class FusionHead:
    """The n-gram + embedding head: weights over [n-gram features, ``scale`` x embedding]."""

    embedder: str  # the embedder name the vectors must come from (EmbedResponse.model)
    dim: int
    scale: float
    coef: npt.NDArray[np.float32]  # (n_features + dim, n_labels)
    intercept: npt.NDArray[np.float32]
    temperature: float
    threshold: float


@dataclass(frozen=True)
class Prediction:
    """Calibrated probabilities (label order of the model), the winning intent and the head that scored."""

    probabilities: npt.NDArray[np.float64]
    labels: tuple[str, ...]
    classifier: str = "text"  # "text" or "fusion"
    threshold: float = 0.0  # the head's stored abstention threshold

    @property
    def intent(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))

    def ranked(self) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities, kind="stable")
        return [(self.labels[i], float(self.probabilities[i])) for i in order]


@dataclass(eq=False)
class IntentModel:
    """The exported linear model; immutable after loading."""

    labels: tuple[str, ...]
    blocks: tuple[Block, ...]
    coef: npt.NDArray[np.float32]
    intercept: npt.NDArray[np.float32]
    temperature: float
    threshold: float
    metadata: dict[str, Any]
    fusion: FusionHead | None = None
    _n_features: int = field(init=False, repr=False)
    _names: list[str] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        labels, coef, intercept, fusion = self.labels, self.coef, self.intercept, self.fusion
        n_features = sum(len(b.vocabulary) for b in self.blocks)
        if coef.shape != (n_features, len(labels)) or intercept.shape != (len(labels),):
            raise ModelError(
                f"weights have shape {coef.shape} / {intercept.shape}, expected ({n_features}, {len(labels)})"
            )
        if not (self.temperature > 0 and 0.0 <= self.threshold <= 1.0):
            raise ModelError(f"bad calibration values (temperature {self.temperature}, threshold {self.threshold})")
        if fusion is not None:
            expected = (n_features + fusion.dim, len(labels))
            if fusion.coef.shape != expected or fusion.intercept.shape != (len(labels),):
                raise ModelError(f"fusion weights have shape {fusion.coef.shape}, expected {expected}")
            if not (fusion.temperature > 0 and 0.0 <= fusion.threshold <= 1.0 and fusion.scale > 0):
                raise ModelError("bad fusion calibration values")
        self._n_features = n_features

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", ""))

    def features(self, text: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        folded = with_lexicon_tags(text)
        idx: list[int] = []
        vals: list[float] = []
        for block in self.blocks:
            i, v = block.features(folded)
            idx.extend(i)
            vals.extend(v)
        return np.asarray(idx, dtype=np.intp), np.asarray(vals, dtype=np.float32)

    def accepts(self, embedding: npt.NDArray[np.float32] | None, embedder: str) -> bool:
        """Whether the fusion head can use this embedding (same embedder, same size)."""
        return (
            self.fusion is not None
            and embedding is not None
            and embedding.shape == (self.fusion.dim,)
            and embedder == self.fusion.embedder
        )

    def logits(self, text: str, embedding: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.float64]:
        """Raw scores of the text head, or of the fusion head when ``embedding`` is given."""
        idx, vals = self.features(text)
        if embedding is None or self.fusion is None:
            z = self.intercept.astype(np.float64)
            if idx.size:
                z = z + (vals @ self.coef[idx]).astype(np.float64)
            return z
        head = self.fusion
        z = head.intercept.astype(np.float64) + (head.scale * embedding) @ head.coef[self._n_features :]
        if idx.size:
            z = z + (vals @ head.coef[idx]).astype(np.float64)
        return z

    def predict(self, text: str, embedding: npt.NDArray[np.float32] | None = None) -> Prediction:
        """Calibrated probabilities: the fusion head when ``embedding`` is given (callers check
        :meth:`accepts` first), else the text head."""
        fused = embedding is not None and self.fusion is not None
        temperature = self.fusion.temperature if fused and self.fusion else self.temperature
        z = self.logits(text, embedding if fused else None) / temperature
        z -= z.max()
        p = np.exp(z)
        if fused and self.fusion:
            return Prediction(p / p.sum(), self.labels, "fusion", self.fusion.threshold)
        return Prediction(p / p.sum(), self.labels, "text", self.threshold)

    def explain(
        self, text: str, intent: str, top: int = 5, embedding: npt.NDArray[np.float32] | None = None
    ) -> list[tuple[str, float]]:
        """The features that pushed ``intent`` up most: (feature, contribution to its logit).
        With the fusion head the whole embedding counts as one feature, ``embedding``."""
        idx, vals = self.features(text)
        k = self.labels.index(intent)
        fused = embedding is not None and self.fusion is not None
        coef = self.fusion.coef if fused and self.fusion else self.coef
        contrib = vals * coef[idx, k] if idx.size else np.zeros(0, dtype=np.float32)
        names = [self._feature_names()[int(i)] for i in idx]
        if fused and self.fusion and embedding is not None:
            names.append(f"embedding:{self.fusion.embedder}")
            emb = float((self.fusion.scale * embedding) @ self.fusion.coef[self._n_features :, k])
            contrib = np.append(contrib, np.float32(emb))
        if not names:
            return []
        order = np.argsort(-contrib, kind="stable")[:top]
        return [(names[int(i)], float(contrib[i])) for i in order if contrib[i] > 0]

    def _feature_names(self) -> list[str]:
        if self._names is None:
            names = [""] * self.coef.shape[0]
            for block in self.blocks:
                prefix = "char" if block.analyzer == "char_wb" else "word"
                for gram, j in block.vocabulary.items():
                    tag = _TAG.fullmatch(gram) if prefix == "word" else None
                    names[block.offset + j] = f"lexicon:{tag.group(1)}" if tag else f"{prefix}:{gram!r}"
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
        meta = {**self.metadata, "format": FORMAT, "blocks": spec, "lexicon_sha256": LEXICON_SHA256}
        if self.fusion is not None:
            arrays["fusion_coef"] = self.fusion.coef
            arrays["fusion_intercept"] = self.fusion.intercept
            arrays["fusion_calibration"] = np.asarray(
                [self.fusion.temperature, self.fusion.threshold, self.fusion.scale], dtype=np.float64
            )
            meta["fusion"] = {"embedder": self.fusion.embedder, "dim": self.fusion.dim}
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
                if meta.get("lexicon_sha256") != LEXICON_SHA256:
                    raise ModelError(f"model file {path.name!r} was trained with another keyword lexicon: retrain it")
                blocks = []
                offset = 0
                for i, spec in enumerate(meta["blocks"]):
                    grams = [str(g) for g in data[f"vocab_{i}"]]
                    idf = data[f"idf_{i}"].astype(np.float32)
                    if len(grams) != idf.shape[0]:
                        raise ModelError(f"block {i}: {len(grams)} n-grams but {idf.shape[0]} IDF values")
                    lo, hi = spec["ngram_range"]
                    blocks.append(
                        Block(spec["analyzer"], (int(lo), int(hi)), {g: j for j, g in enumerate(grams)}, idf, offset)
                    )
                    offset += len(grams)
                temperature, threshold = (float(x) for x in data["calibration"])
                fusion = None
                if "fusion" in meta:
                    f_temperature, f_threshold, scale = (float(x) for x in data["fusion_calibration"])
                    fusion = FusionHead(
                        str(meta["fusion"]["embedder"]),
                        int(meta["fusion"]["dim"]),
                        scale,
                        data["fusion_coef"].astype(np.float32),
                        data["fusion_intercept"].astype(np.float32),
                        f_temperature,
                        f_threshold,
                    )
                model = cls(
                    tuple(str(label) for label in data["labels"]),
                    tuple(blocks),
                    data["coef"].astype(np.float32),
                    data["intercept"].astype(np.float32),
                    temperature,
                    threshold,
                    meta,
                    fusion,
                )
        except ModelError:
            raise
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ModelError(f"model file {path.name!r} is unreadable or corrupt: {type(exc).__name__}") from None
        arrays_to_check = [model.coef, model.intercept]
        if model.fusion is not None:
            arrays_to_check += [model.fusion.coef, model.fusion.intercept]
        if not all(np.all(np.isfinite(a)) for a in arrays_to_check):
            raise ModelError(f"model file {path.name!r} holds non-finite weights")
        return model
