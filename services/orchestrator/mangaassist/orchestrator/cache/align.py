"""Content-word alignment: the cache check chosen on the hand-written evaluation
(docs/decisions/0003-cache-check.md).

Two questions may share an answer only when every content word of each has a
near-synonym in the other, and they agree on negation, direction and numbers. The word
list check (``lexicon_check``) folds whole categories into one label ("credit card", "PayPay" and
"bank transfer" are all ``con:pay``), so two questions about different objects of one
category agree; and it drops what it cannot read (hiragana words, inflections). Here:

* **Japanese** is cut into words by SudachiPy (``sudachidict-core``), which gives each
  word its dictionary form, its part of speech and its *synonym groups* (Sudachi's
  synonym dictionary: 値段/価格/料金, 終了/終わる, 本/書籍). Content words are nouns, proper
  nouns, verbs, adjectives and adjectival nouns; particles, auxiliaries, light verbs and
  nouns (``非自立可能``: する, できる, いる, もらう …), adverbs and symbols are not.
* **English** is cut by a regular expression and lemmatised by ``lemminflect`` (written →
  write, boxed → box, cheapest → cheap); function words and shop words that do not change
  the answer (the ``stop`` list of ``lexicon_check.LEXICON``) are not content words.
* **Near-synonyms** are the same dictionary form or lemma, a shared Sudachi synonym group,
  or a shared label of ``lexicon_check.LEXICON`` — only of the labels that name one thing in
  several words (``SYNONYM_LABELS``: cheap/affordable/安い, ebook/電子書籍), never of the
  labels that gather a category (payment methods, carriers, return/refund/exchange).
* **Negation, direction (under/以下, over/以上) and numbers** come from ``lexicon_check.signature``
  and must be equal, as before.

Anything not recognised counts as a content word that must be matched, so what the lists
do not know can only cost a hit (one model call), never serve a wrong answer. Why not the
embedding alone: on the hand-written set, near misses are *more* similar to their first
question than paraphrases are (bench/results/cache_eval-*.json).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from mangaassist.common.vocabulary import EN_NUMBER_WORDS
from mangaassist.orchestrator.cache.keys import key_text
from mangaassist.orchestrator.cache.lexicon_check import _LEX, LEXICON, signature

# Lexicon labels whose forms are one thing said several ways. The others gather a
# category of different things (payment methods, carriers, kinds of damage) and must not
# make two words near-synonyms.
CATEGORY_LABELS = frozenset(
    {
        "pay",
        "ship",
        "gift",
        "duration",
        "return",
        "damaged",
        "coupon",
        "print",
        "limited",
        "author",
        "express",
        "kids",
        "adult",
        "g_supernatural",
        "g_historical",
        "g_sports",
        "points",
        "price",
        "set",
        "digital",
        "release",
        "restock",
        "popular",
        "old",
        "latest",
        "final",
    }
)
# Words that say the same thing, where the lexicon's label gathers more than one thing
# (shipping vs its fee, price vs a handling fee). Each set is one meaning; a word outside
# every set matches only itself.
SYNONYM_SETS: tuple[frozenset[str], ...] = tuple(
    frozenset(key_text(w) for w in group)
    for group in (
        (
            "ship",
            "shipping",
            "deliver",
            "delivery",
            "send",
            "dispatch",
            "配送",
            "発送",
            "配達",
            "送る",
            "届ける",
            "お届け",
        ),
        ("price", "cost", "how much", "いくら", "幾ら", "価格", "値段"),
        ("fee", "charge", "料金", "手数料"),
        ("complete", "finish", "finished", "over", "end", "完結", "終了", "終わる"),
        ("ebook", "e-book", "digital", "digital version", "digital edition", "電子書籍", "電子版", "デジタル"),
        ("print", "print edition", "physical", "paper", "paperback", "紙", "紙の本", "紙版"),
        ("author", "writer", "mangaka", "作者", "著者", "漫画家", "原作者"),
        ("artist", "who drew", "illustrator", "illustrate", "draw", "作画", "描く"),
        ("box set", "boxed set", "complete set", "full set", "全巻セット"),
        ("sale", "discount", "discounted", "on sale", "セール", "割引", "割り引き", "値下げ"),
        ("store", "shop", "店", "店頭", "店舗", "お店"),
        ("payment", "pay", "支払い", "支払う", "払う", "払い", "決済"),
        ("arrive", "get to", "届く", "着く", "到着"),
        ("edition", "version", "版"),
        ("latest", "newest", "most recent", "最新", "最新刊"),
    )
)
_SYNONYM_OF: dict[str, frozenset[str]] = {}
for _i, _group in enumerate(SYNONYM_SETS):
    for _w in _group:
        _SYNONYM_OF[_w] = _SYNONYM_OF.get(_w, frozenset()) | {f"y:{_i}"}
SYNONYM_LABELS = frozenset(
    label[4:] for label in LEXICON if label.startswith("con:") and label[4:] not in CATEGORY_LABELS
)

_JA_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_EN_TOKEN = re.compile(r"[a-z][a-z0-9'\-]*[a-z0-9]|[a-z]")
_JA_CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "接頭辞", "接尾辞"})
# Prefixes and suffixes that do not change what is asked about (沖縄県 = 沖縄, アニメ化 of an anime,
# セール品 = on sale), dropped like particles.
_JA_LIGHT = frozenset(
    {
        "者",
        "さん",
        "様",
        "的",
        "第",
        "御",
        "お",
        "ご",
        "達",
        "たち",
        "等",
        "など",
        "頃",
        "ごろ",
        "用",
        "方",
        "毎",
        "県",
        "品",
        "化",
        "日",
        "業",
    }
)
_JA_SKIP_SUB = frozenset({"数詞", "非自立可能", "助数詞"})
_EN_EXTRA_STOP = frozenset(
    {
        "an",
        "the",
        "does",
        "do",
        "did",
        "into",
        "than",
        "whether",
        "when",
        "there",
        "yes",
        "one",
        "ones",
        "else",
        "other",
        "another",
        "someone",
        "somebody",
        "anyone",
        "around",
        "currently",
        "right",
        "being",
        "getting",
        "go",
        "going",
        "come",
        "make",
        "made",
        "put",
        "send",
        "sent",
        "ask",
        "asking",
    }
)
_MAX_WORDS = 128  # past this, the whole normalised text must match (as the guards do for long text)


def _stop_sets() -> tuple[frozenset[str], frozenset[str]]:
    en: set[str] = set(_EN_EXTRA_STOP)
    ja: set[str] = set()
    for form in LEXICON["stop"]:
        form = key_text(form)
        (ja if _JA_SCRIPT.search(form) else en).add(form)
    return frozenset(en), frozenset(ja)


_EN_STOP, _JA_STOP = _stop_sets()


@dataclass(frozen=True)
class Word:
    """One content word: its canonical form, its synonym keys (``s:`` Sudachi group,
    ``l:`` lexicon label) and whether it is a predicate (verb, adjective) rather than a
    thing (noun, name, number word)."""

    form: str
    synonyms: frozenset[str]
    predicate: bool = False

    def near(self, other: Word) -> bool:
        return self.form == other.form or bool(self.synonyms & other.synonyms) or _derived(self.form, other.form)


_SUFFIXES = ("", "s", "es", "d", "ed", "ing", "ment", "ments", "ion", "ions", "ation", "y", "able", "er", "ers", "al")


def _derived(a: str, b: str) -> bool:
    """English derivation: one word is the other plus a suffix (deliver/delivery, pay/payment,
    translate/translation, return/returnable)."""
    if not (a.isascii() and b.isascii()) or a == b:
        return a == b
    short, long_ = sorted((a.rstrip("e"), b.rstrip("e")), key=len)
    return len(short) >= 3 and long_.startswith(short) and long_[len(short) :] in _SUFFIXES


@dataclass(frozen=True)
class AlignSignature:
    polarity: frozenset[str]
    numbers: frozenset[str]
    words: tuple[Word, ...]
    # "strict": every content word aligned, a verb added on one side refuses too (measured
    # side by side as check "align_strict"; not stored, set by the check that reads it).
    strict: bool = field(default=False, compare=False)

    def agrees(self, other: Any) -> bool:
        if not isinstance(other, AlignSignature):
            return False
        if self.polarity != other.polarity or self.numbers != other.numbers:
            return False
        mine = [w for w in self.words if not any(w.near(v) for v in other.words)]
        theirs = [v for v in other.words if not any(v.near(w) for w in self.words)]
        if self.strict or other.strict:
            return not mine and not theirs
        # "substitution": a thing said on one side only, or anything replaced by something
        # else, refuses; a predicate added on one side only ("made into", 「残っている」) does not.
        if mine and theirs:
            return False
        return all(w.predicate for w in mine + theirs)

    def to_json(self) -> dict[str, Any]:
        return {
            "polarity": sorted(self.polarity),
            "numbers": sorted(self.numbers),
            "words": [[w.form, sorted(w.synonyms), int(w.predicate)] for w in self.words],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], strict: bool = False) -> AlignSignature:
        words = tuple(
            Word(str(w[0]), frozenset(str(s) for s in w[1]), bool(w[2] if len(w) > 2 else 0))
            for w in data.get("words", ())
        )
        return cls(
            frozenset(str(x) for x in data.get("polarity", ())),
            frozenset(str(x) for x in data.get("numbers", ())),
            words,
            strict,
        )


def _label_key(form: str) -> frozenset[str]:
    extra = _SYNONYM_OF.get(form, frozenset())
    label = _LEX.words.get(form) or _LEX.ja_words.get(form) or _LEX.phrase_label.get(form)
    if label and label.startswith("con:") and label[4:] in SYNONYM_LABELS:
        return extra | {"l:" + label[4:]}
    return extra


def _is_polarity(form: str) -> bool:
    label = _LEX.words.get(form) or _LEX.ja_words.get(form) or _LEX.phrase_label.get(form)
    return bool(label and label.startswith("pol:"))


def _en_lemma(word: str) -> str:
    import lemminflect  # type: ignore[import-untyped]

    lemmas = lemminflect.getAllLemmas(word)
    for pos in ("NOUN", "ADJ", "VERB", "ADV", "PROPN"):
        if pos in lemmas:
            return str(lemmas[pos][0])
    return word


# Number words dropped like stop words: the ordinals to "tenth", the shared table's cardinals two
# to twelve, twenty and hundred, and "thousand".
_EN_NUMBER_WORDS = frozenset(
    ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "thousand"]
    + [word for word, value in EN_NUMBER_WORDS.items() if 2 <= value <= 12 or value in (20, 100)]
)


def _en_word(token: str) -> Word | None:
    token = token.strip("'-")
    if token.endswith("'s"):
        token = token[:-2]
    if not token or token in _EN_STOP or token in _EN_NUMBER_WORDS or _is_polarity(token) or token.isdigit():
        return None
    import lemminflect

    lemma = _en_lemma(token)
    if lemma in _EN_STOP or _is_polarity(lemma):
        return None
    pos = lemminflect.getAllLemmas(token)
    predicate = set(pos) <= {"VERB", "ADV"} and bool(pos)
    return Word(lemma, _label_key(token) | _label_key(lemma), predicate)


def _en_phrases(text: str, take: Callable[[str], str]) -> str:
    """``text`` with each lexicon phrase of several words ("box set", "how much") replaced by
    what ``take`` makes of it; a stop phrase stays as it is and a polarity phrase ("out of
    stock") becomes a blank (polarity is read by the signature, not as a word)."""

    def replace_phrase(m: re.Match[str]) -> str:
        phrase = m.group(0)
        if " " not in phrase or phrase in _EN_STOP:
            return phrase
        if _is_polarity(phrase):
            return " "
        return take(phrase)

    return _LEX.phrase_re.sub(replace_phrase, text)


def _english(text: str) -> list[Word]:
    words: list[Word] = []

    # A lexicon phrase of several words gives each of its words the phrase's synonyms, so
    # "box set" meets both "boxed set" and "complete set".
    def take(phrase: str) -> str:
        keys = _label_key(phrase)
        for token in _EN_TOKEN.findall(phrase):
            w = _en_word(token)
            if w is not None:
                words.append(Word(w.form, w.synonyms | keys, w.predicate))
        if not any(_en_word(t) for t in _EN_TOKEN.findall(phrase)):
            words.append(Word(phrase, keys))
        return " "

    for token in _EN_TOKEN.findall(_en_phrases(text, take)):
        w = _en_word(token)
        if w is not None:
            words.append(w)
    return words


class _Sudachi:
    """One SudachiPy tokenizer per thread (its tokenizer is not thread-safe), built on first use."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._dictionary: Any = None
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> Any:
        tok = getattr(self._local, "tok", None)
        if tok is None:
            # The dictionary is data sudachipy opens by name; importing its package here also puts
            # it in the orchestrator image (deploy/tools/service_requirements.py follows imports).
            import sudachidict_core  # type: ignore[import-untyped]  # noqa: F401
            from sudachipy import Dictionary, SplitMode  # type: ignore[import-untyped]

            with self._lock:
                if self._dictionary is None:
                    self._dictionary = Dictionary(dict="core")
            tok = self._dictionary.tokenizer(mode=SplitMode.A)
            self._local.tok = tok
        return tok.tokenize(text)


_SUDACHI = _Sudachi()
# A morpheme in Latin letters inside Japanese text: read as English.
_LATIN_WORD = re.compile(r"[a-z0-9][a-z0-9 '&.\-]*")


def _ja_morphemes(text: str) -> Iterator[tuple[Any, str, Any]]:
    """Sudachi's morphemes of ``text`` that have a surface: (morpheme, surface, part of speech)."""
    for m in _SUDACHI.tokenize(text):
        surface = m.surface().strip()
        if surface:
            yield m, surface, m.part_of_speech()


def _japanese(text: str) -> list[Word]:
    words: list[Word] = []
    for m, surface, pos in _ja_morphemes(text):
        if _LATIN_WORD.fullmatch(surface):
            # Latin words inside Japanese: read as English (titles, "paypay", "kindle").
            words.extend(_english(surface))
            continue
        if pos[0] not in _JA_CONTENT_POS or pos[1] in _JA_SKIP_SUB:
            continue
        form = m.normalized_form()
        if form in _JA_STOP or surface in _JA_STOP or _is_polarity(surface) or _is_polarity(form):
            continue
        if form in _JA_LIGHT or surface in _JA_LIGHT:
            continue
        synonyms = frozenset(f"s:{g}" for g in m.synonym_group_ids()) | _label_key(surface) | _label_key(form)
        words.append(Word(form, synonyms, pos[0] == "動詞"))
    return words


@lru_cache(maxsize=4096)
def align_signature(text: str) -> AlignSignature:
    """The alignment signature of a raw message (normalised here)."""
    lex = signature(text)
    t = key_text(text)
    words = _japanese(t) if _JA_SCRIPT.search(t) else _english(t)
    if len(words) > _MAX_WORDS:
        words = [Word("#" + t, frozenset())]
    unique = tuple(dict.fromkeys(words))
    # Long or unreadable text: the guards add a digest of the whole as an entity; keep it.
    digests = frozenset(e for e in lex.entities if e.startswith("#"))
    extra = tuple(Word(d, frozenset()) for d in sorted(digests))
    return AlignSignature(lex.polarity, lex.numbers, unique + extra)


class AlignCheck:
    """``CacheConfig(check="align")``: content-word alignment (see the module docstring);
    ``strict=True`` (check ``"align_strict"``) also refuses a verb said on one side only."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.name = "align_strict" if strict else "align"
        # Load the Sudachi dictionary and lemminflect's tables now (≈ 0.3 s + 2 s), when the
        # cache is built at start-up, not on the first customer's lookup.
        _japanese("在庫はありますか")
        _en_word("deliveries")

    def signature(self, text: str) -> AlignSignature:
        sig = align_signature(text)
        return replace(sig, strict=True) if self.strict else sig

    def from_json(self, data: dict[str, Any]) -> AlignSignature:
        return AlignSignature.from_json(data, self.strict)
