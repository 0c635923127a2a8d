"""Frame comparison: the cache check that tells the *object* of a question from its wording.

Two questions may share an answer when they ask the same thing of the same objects; how
they ask (verb, politeness, word order, particles) does not matter. Each message is
reduced to a *frame* (docs/decisions/0003-cache-check.md):

* **limits** — negation, exclusion, out-of-stock and the direction of a limit, from
  ``lexicon_check`` (「まで」 is a limit only after a number or counter: 「1000円まで」, not
  「カナダまで」 or 「届くまで」);
* **numbers** — volume numbers, prices, counts (``lexicon_check``);
* **objects** — what is asked about: nouns (Japanese verbal nouns too: 予約, 配送, 返品 name a
  mode of buying or a service as much as an act), proper nouns, adjectives, and every word
  that is not recognised;
* **actions** — what is done: Japanese verbs, English words used as a verb (only ever a
  verb, after a subject, a modal or "to", or an inflected verb form) and English nouns
  made from a verb (payment, delivery).

Two frames agree when limits and numbers are equal and every word of each has a
near-synonym on the other side, except:

* **frame nouns** (``FRAME_NOUNS``: version/版, carrier/業者, type/種類, こと, payment/支払い),
  which name the kind of thing already named ("Visa" / "Visa … for payment", 「アニメ」 /
  「アニメ版」) and need no counterpart;
* **a Japanese verb said on one side only** (「残っていますか」, 「払えますか」 for 「使えますか」):
  wording. An English one refuses: English wording verbs ("buy", "sell", "use", "get") are
  stop words, so "can I *buy*" / "can I *rent*" looks like a verb added, not replaced.

A verb replaced by an unrelated one refuses in both languages. Near-synonyms: the same
lemma or Sudachi normalised form, a shared Sudachi synonym group, a shared lexicon label
of one meaning (``align.SYNONYM_LABELS``) or ``align.SYNONYM_SETS`` group, the merged
*topics* "price" (how much = price = fee = 「いくら」) and "time" (when = how long = 「何日」),
English derivation (deliver/delivery), a kanji shared by two Japanese actions
(届く/届ける, 受け取る/受け取り), and the katakana Sudachi gives a Latin word inside Japanese.

An unknown word is an object that must be matched, so what the rules do not know can
only cost a hit. The embedding decides nothing alone: the threshold is the floor above
which frames are compared (0.89, chosen on the calibration side).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mangaassist.orchestrator.cache.align import (
    _EN_NUMBER_WORDS,
    _EN_STOP,
    _EN_TOKEN,
    _JA_CONTENT_POS,
    _JA_LIGHT,
    _JA_SCRIPT,
    _JA_SKIP_SUB,
    _JA_STOP,
    _LATIN_WORD,
    _MAX_WORDS,
    _SUDACHI,
    _derived,
    _en_phrases,
    _is_polarity,
    _ja_morphemes,
    _label_key,
)
from mangaassist.orchestrator.cache.keys import key_text
from mangaassist.orchestrator.cache.lexicon_check import _LEX, signature

# 「まで」 after a number or a counter is a limit (「1000円まで」「3冊まで」); elsewhere it is "to"/"until".
_MADE_NOT_LIMIT = re.compile(r"(?<![0-9〇一二三四五六七八九十百千万円冊巻個点人日回])まで")
# English words that make the next word a verb: subjects, modals, auxiliaries, "to".
_EN_VERB_CUE = frozenset(
    {"i", "you", "we", "they", "can", "could", "will", "would", "should", "may", "might", "to", "do", "does", "did"}
)
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_KANJI_STEM = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
# Nouns that name the *kind* of thing the question is already about, not another thing:
# "Visa" / "Visa card", 「アニメ」 / 「アニメ版」, "Japan Post" / "a carrier", 「こと」. Said on one
# side only they are wording; the word they classify must still meet its counterpart.
FRAME_NOUNS = frozenset(
    {
        "version",
        "adaptation",
        "format",
        "carrier",
        "company",
        "service",
        "brand",
        "type",
        "date",
        "版",
        "業者",
        "会社",
        "サービス",
        "ブランド",
        "種類",
        "こと",
        "もの",
        "テーマ",
        "単位",
        # the question is about paying: "Can I use Visa?" / "Is Visa OK for payment?"
        "pay",
        "payment",
        "支払い",
        "支払う",
        "払う",
        "決済",
        "代金",
    }
)
# The question's topic when it asks for an amount, a time or a release: "how much" = "price" =
# "fee" = 「いくら」; "how long" = "how many days" = 「何日」; "come out" = "be released" = 「発売」 =
# 「出る」. The object it asks it of is another word.
_TOPICS = {"price": "t:price", "duration": "t:duration", "release": "t:release"}
# General near-synonyms the lexicon gathers under category labels or does not know.
_MORE_SYNONYMS: tuple[frozenset[str], ...] = tuple(
    frozenset(group)
    for group in (
        {"gift", "present", "ギフト", "プレゼント", "贈り物"},
        {"award", "prize", "賞", "大賞"},
        {"complete", "full", "whole", "entire", "all"},
    )
)


# Words that ask for a time without a lexicon label of their own ("when", 「いつ」, "date").
_DURATION_WORDS = frozenset({"when", "date", "day", "days", "いつ", "日数", "何日", "日にち"})


def _keys(form: str) -> frozenset[str]:
    keys = _label_key(form) | ({"t:duration"} if form in _DURATION_WORDS else frozenset())
    label = _LEX.words.get(form) or _LEX.ja_words.get(form) or _LEX.phrase_label.get(form)
    if label and label.startswith("con:") and label[4:] in _TOPICS:
        keys |= {_TOPICS[label[4:]]}
    return keys | frozenset(f"m:{i}" for i, g in enumerate(_MORE_SYNONYMS) if form in g)


@dataclass(frozen=True)
class FWord:
    """One content word: its canonical form, its near-synonym keys and whether it is an action."""

    form: str
    keys: frozenset[str]
    action: bool = False
    # Wording that needs no counterpart but may be one: a frame noun, a verb of a stop stem (取れる).
    light: bool = False

    def near(self, other: FWord) -> bool:
        return (
            self.form == other.form
            or any(k in other.keys for k in self.keys if not k.startswith("k:"))
            or _derived(self.form, other.form)
        )

    def kanji(self) -> frozenset[str]:
        """The kanji of a Japanese action (verb, verbal noun, 受け取り): ``k:`` keys."""
        return frozenset(k for k in self.keys if k.startswith("k:"))


@dataclass(frozen=True)
class FrameSignature:
    polarity: frozenset[str]
    numbers: frozenset[str]
    words: tuple[FWord, ...]

    def agrees(self, other: Any) -> bool:
        if not isinstance(other, FrameSignature):
            return False
        if self.polarity != other.polarity or self.numbers != other.numbers:
            return False
        return self.unmatched(other) is None

    def unmatched(self, other: FrameSignature) -> str | None:
        """Why the two frames differ (for tests and the explanation of a refusal), or None."""
        if self.polarity != other.polarity:
            return "limits"
        if self.numbers != other.numbers:
            return "numbers"
        mine = _unmatched(self.words, other.words)
        theirs = _unmatched(other.words, self.words)
        for w in mine + theirs:
            if not w.action:
                return f"object {w.form!r}"  # another thing is asked about
            if w.form.isascii():
                # English drops "buy", "sell", "use" as wording, so "can I buy" / "can I rent" looks
                # like a verb added: an English verb on one side only refuses.
                return f"action {w.form!r}"
        if mine and theirs:
            return f"action {mine[0].form!r} / {theirs[0].form!r}"  # replaced by an unrelated one
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "polarity": sorted(self.polarity),
            "numbers": sorted(self.numbers),
            "words": [[w.form, sorted(w.keys), int(w.action), int(w.light)] for w in self.words],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameSignature:
        words = tuple(FWord(str(w[0]), frozenset(str(s) for s in w[1]), bool(w[2])) for w in data.get("words", ()))
        return cls(
            frozenset(str(x) for x in data.get("polarity", ())),
            frozenset(str(x) for x in data.get("numbers", ())),
            words,
        )


def _unmatched(words: tuple[FWord, ...], others: tuple[FWord, ...]) -> list[FWord]:
    """The words without a counterpart among ``others``. A Japanese action also meets the
    other side's actions when every kanji it has is among theirs: 届く/届ける, 受け取り /
    受け + 取れる; not 後払い / 払える (後 is said on one side only)."""
    other_kanji = frozenset().union(*(v.kanji() for v in others))
    out = []
    for w in words:
        if w.light or w.form in FRAME_NOUNS or any(w.near(v) for v in others):
            continue
        kanji = w.kanji()
        if kanji and kanji <= other_kanji:
            continue
        out.append(w)
    return out


def _en_lemmas(token: str) -> dict[str, tuple[str, ...]]:
    import lemminflect  # type: ignore[import-untyped]

    return dict(lemminflect.getAllLemmas(token))


def _en_word(token: str, cue: str, extra: frozenset[str] = frozenset()) -> FWord | None:
    token = token.strip("'-").removesuffix("'s")
    if token in _DURATION_WORDS:
        return FWord(token, _keys(token) | extra)
    if not token or token in _EN_NUMBER_WORDS or token.isdigit() or _is_polarity(token) or token in _EN_STOP:
        return None
    lemmas = _en_lemmas(token)
    verb = lemmas.get("VERB", ())
    if verb and verb[0] in _EN_STOP:
        return None
    all_lemmas = {x for forms in lemmas.values() for x in forms} | {token}
    keys = frozenset(f"f:{x}" for x in all_lemmas) | extra
    for x in all_lemmas:
        keys |= _keys(x)
    # A verb here: only ever a verb, after a subject, a modal or "to", or an inflected verb form.
    used_as_verb = bool(verb) and (
        set(lemmas) <= {"VERB", "ADV", "AUX"}
        or cue in _EN_VERB_CUE
        or (token.endswith(("ed", "ing")) and verb[0] != token and "NOUN" not in lemmas)
    )
    # A noun made from a verb (payment, delivery, shipment): the action named as a thing.
    nominalised = not used_as_verb and any(
        token != stem and _derived(token, stem) and "VERB" in _en_lemmas(stem)
        for stem in {token.removesuffix(s) for s in ("ment", "ments", "ery", "y", "ion", "ions")}
    )
    form = verb[0] if used_as_verb else next(iter(lemmas.get("NOUN", lemmas.get("ADJ", (token,)))))
    return FWord(form, keys, used_as_verb or nominalised)


def _en_words(text: str) -> list[FWord]:
    words: list[FWord] = []

    # A lexicon phrase of several words ("box set", "how much") gives its words the phrase's keys.
    def take(phrase: str) -> str:
        keys = _keys(phrase)
        if not keys:
            return phrase
        found = [w for w in (_en_word(t, "", keys) for t in _EN_TOKEN.findall(phrase)) if w is not None]
        words.extend(found or [FWord(phrase, keys)])
        return " , "

    prev = ""
    for token in _EN_TOKEN.findall(_en_phrases(text, take)):
        w = _en_word(token, prev)
        prev = token
        if w is not None:
            words.append(w)
    return words


def _ja_stop_groups() -> frozenset[int]:
    """Sudachi synonym groups of the Japanese stop words: 書籍 and ブック say 本, 店舗 says 店."""
    groups: set[int] = set()
    for word in _JA_FRAME_STOP:
        morphemes = list(_SUDACHI.tokenize(word))
        if len(morphemes) == 1:
            groups.update(morphemes[0].synonym_group_ids())
    return frozenset(groups)


# The word list drops 「前」 and 「後」 (「注文後」 = after ordering); here they say before or after
# something (前払い / 後払い, 発売前 / 発売後), a direction that must agree.
_JA_FRAME_STOP = _JA_STOP - {"前", "後"}
_JA_DEVERBAL = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+[ぁ-ん]+[\u3400-\u4dbf\u4e00-\u9fff]*[ぁ-ん]*")


def _ja_words(text: str) -> list[FWord]:
    stop_groups = _JA_STOP_GROUPS or _load_stop_groups()
    words: list[FWord] = []
    for m, surface, pos in _ja_morphemes(text):
        if _LATIN_WORD.fullmatch(surface):
            # Latin words inside Japanese: read as English, and known by their katakana too (spy = スパイ).
            alias = frozenset({f"f:{m.normalized_form()}"})
            words.extend(FWord(w.form, w.keys | alias, w.action) for w in _en_words(surface))
            continue
        if surface in _DURATION_WORDS:
            words.append(FWord(surface, _keys(surface)))
            continue
        if pos[0] not in _JA_CONTENT_POS or pos[1] in _JA_SKIP_SUB:
            continue
        form = m.normalized_form()
        dictionary = m.dictionary_form()
        if form in _JA_FRAME_STOP or dictionary in _JA_FRAME_STOP:
            continue
        if surface in _JA_FRAME_STOP and pos[0] != "動詞":  # a verb's stem (出 of 出ます) is handled below
            continue
        if stop_groups.intersection(m.synonym_group_ids()) and not _label_key(form) and not _label_key(surface):
            continue  # a synonym of a stop word (書籍 of 本) carries nothing either, unless the lexicon knows it
        if _is_polarity(surface) or _is_polarity(form) or form in _JA_LIGHT or surface in _JA_LIGHT:
            continue
        keys = (
            frozenset(f"s:{g}" for g in m.synonym_group_ids())
            | frozenset({f"f:{form}", f"f:{dictionary}"})
            | _keys(surface)
            | _keys(form)
        )
        # Verbs and verbal nouns meet another action sharing a kanji (届く/届ける, 受け取る/受け取り).
        # A noun that is a verb's stem with its kana (受け取り, 支払い, 引き換え) is an action named too.
        if pos[2] == "サ変可能" or pos[0] == "動詞" or _JA_DEVERBAL.fullmatch(surface):
            keys |= frozenset(f"k:{c}" for c in _KANJI.findall(form))
        # 買う, 使う, 取れる: the verb of a stop stem (買, 使, 取) is wording, as in the word list.
        stem = _KANJI_STEM.match(dictionary)
        light = pos[0] == "動詞" and stem is not None and stem.group(0) in _JA_FRAME_STOP
        words.append(FWord(form, keys, pos[0] == "動詞", light))
    return words


_JA_STOP_GROUPS: frozenset[int] = frozenset()


def _load_stop_groups() -> frozenset[int]:
    global _JA_STOP_GROUPS
    _JA_STOP_GROUPS = _ja_stop_groups()
    return _JA_STOP_GROUPS


@lru_cache(maxsize=4096)
def frame_signature(text: str) -> FrameSignature:
    """The frame of a raw message (normalised here)."""
    t = key_text(text)
    lex = signature(_MADE_NOT_LIMIT.sub("へ", t))
    words = _ja_words(t) if _JA_SCRIPT.search(t) else _en_words(t)
    if len(words) > _MAX_WORDS:
        words = [FWord("#" + t, frozenset())]
    digests = tuple(FWord(e, frozenset()) for e in sorted(lex.entities) if e.startswith("#"))
    return FrameSignature(lex.polarity, lex.numbers, tuple(dict.fromkeys(words)) + digests)


class FrameCheck:
    """``CacheConfig(check="frame")``: frame comparison (see the module docstring)."""

    name = "frame"

    def __init__(self) -> None:
        # Load the Sudachi dictionary and lemminflect's tables at start-up, not on a customer's lookup.
        _ja_words("在庫はありますか")
        _en_words("deliveries")

    def signature(self, text: str) -> FrameSignature:
        return frame_signature(text)

    def from_json(self, data: dict[str, Any]) -> FrameSignature:
        return FrameSignature.from_json(data)
