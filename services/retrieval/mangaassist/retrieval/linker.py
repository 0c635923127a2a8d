"""Catalog entity linking: which series (or authors) a customer message names.

Every series is reachable by its English and Japanese titles, its romaji, the aliases in
its record (nicknames and abbreviations customers use: 鬼滅, ヒロアカ, "HxH", "JJK"…) and
its authors. The vocabulary is catalog data (``series.json``), not code.

Why our own matcher and not a library: the names must meet customers' spellings across
scripts (「ワンピース」 = "ONE PIECE" = "wan pisu"), with decorations dropped (【】, !!, ×,
・), spaces optional ("onepiece", "sakamoto  days"), long vowels folded ("Haikyuu" =
"Haikyu!!") and one typo forgiven. RapidFuzz does the typo distance; the rest is
folding plus a dictionary lookup over word windows (Latin script) and substrings
(Japanese), which is deterministic, costs tens of microseconds for a chat message, and
says which catalog name matched (``Link.kind`` / ``Link.name``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from rapidfuzz.distance import OSA

from mangaassist.common import text as shared_text
from mangaassist.retrieval.lexical import GLOSSARY, romaji

# Score of a match by the kind of name (an exact title beats an alias beats an author).
KIND_WEIGHT = {
    "title": 1.0,
    "alias": 0.97,
    "romaji": 0.96,
    "absent": 0.95,
    "character": 0.93,  # a series' hero ("the one with Luffy", 「炭治郎のやつ」), matched exactly only
    "author": 0.9,
    "partial": 0.75,
    "sequel": 0.7,  # 「超」 for Dragon Ball Super: a name only beside Dragon Ball (the intent service decides)
}
# A well-known title the catalog does not hold (``data/not_carried.json``): linked so the
# assistant can say it does not carry it; its series id is this prefix and a slug.
ABSENT = "absent"
# A distinctive word of an English title ("quintuplets", "tokyo") names it when the message
# treats it as a name: "quintuplets vol 14", "the tokyo one". Shared by more series than
# this, a word names none of them.
MAX_PARTIAL_SERIES = 3
MIN_PARTIAL = 5
_TITLE_FILLER = frozenset(
    {
        # words said in passing ("前の巻も please")
        "please",
        "thanks",
        "thank",
        "sorry",
        "hello",
        "okay",
        "also",
        "just",
        "still",
        "really",
        "want",
        "need",
        "maybe",
        "again",
        # genre and kind words are what customers ask for, not names ("no romance", "any mystery")
        "romance",
        "comedy",
        "drama",
        "fantasy",
        "horror",
        "mystery",
        "action",
        "adventure",
        "sports",
        "music",
        "cooking",
        "school",
        "historical",
        "thriller",
        "psychological",
        "supernatural",
        "isekai",
        "mecha",
        "slice",
        "magic",
        "detective",
        "ghost",
        "ghosts",
        "demon",
        "demons",
        "monster",
        "monsters",
        "vampire",
        "witch",
        "space",
        "manga",
        "mania",
        "comic",
        "comics",
        "volume",
        "series",
        "about",
        "after",
        "house",
        "world",
        "story",
        "stories",
        "life",
        "lives",
        "love",
        "girl",
        "girls",
        "first",
        "little",
        "there",
        "their",
        "other",
        "every",
        "sweet",
        "great",
        # words that tell one edition or volume from another ("just the original, vol 1")
        "original",
        "final",
        "complete",
        "special",
        "latest",
        "newest",
        "next",
        "last",
    }
)
_NAME_AFTER = frozenset({"vol", "volume", "volumes", "one", "series"})
_ASKED_BEFORE = frozenset({"have", "got", "carry", "sell", "stock", "for"})
FUZZY_PENALTY = 0.15  # a one-edit match scores this much lower than an exact one
MIN_LATIN = 3  # "hxh", "jjk"
MIN_NAME_PART = 4  # a hero's given or family name alone ("Anya", "Gojo") at least this long
MIN_ROMAJI_OPENING = 5  # a title's first word alone names it ("kaguya"), when it is this long
MIN_CJK = 2  # 鬼滅, 進撃
MIN_KANA_VARIANT = 3  # a name's kana in the other script (ナルト as なると) is a name from this long
_TO_HIRAGANA = {code: code - 0x60 for code in range(ord("ァ"), ord("ヶ") + 1)}
_TO_KATAKANA = {code: code + 0x60 for code in range(ord("ぁ"), ord("ゖ") + 1)}
MIN_FUZZY = 6  # shorter names are too close to ordinary words to forgive a typo
MIN_SURNAME = 3  # "Oda"
MIN_FUZZY_CJK = 4
MIN_FUZZY_HIRAGANA = 5
_HIRAGANA = re.compile(r"[ぁ-ゖー]+")
MIN_JA_OPENING = 4  # a Japanese title cut at its の this long names it (テニス, 3, is a word)
_KATAKANA = re.compile(r"[ァ-ヺー]+")
MIN_FUZZY_WHOLE = 4
TWO_EDITS = (
    14  # a name this long forgives two edits  # a Japanese name this long or longer forgives one wrong character
)
MIN_KANA_ROMAJI = 5  # a kana run matched through its romaji reading
# A one-word Latin name this short may be an ordinary word ("real", "orange", "emma"):
# it links only as the whole message, capitalised, or next to a product word.
SHORT_WORD = 6
MAX_WINDOW = 6  # words per Latin window
MAX_LINK_CHARS = 600  # a message longer than this is linked on its first part only
_AUTHOR_CUES = frozenset({"by", "from", "author", "mangaka", "artist"})
_DID = frozenset({"did", "does", "has", "have", "had"})
_CREATED = frozenset({"draw", "drawn", "write", "written", "make", "made", "do", "done", "create", "created"})
_PRODUCT_CUES = frozenset({"manga", "vol", "volume", "volumes", "series", "book", "books", "comic", "comics"})
# Shop words beside a short plain word make it a title: "nana price", "what about pluto".
_SHOP_NEIGHBOURS = _PRODUCT_CUES | {
    "price",
    "prices",
    "cost",
    "stock",
    "english",
    "japanese",
    "edition",
    "latest",
    "about",
}

# A word that opens a follow-up naming another series: "and bleach?".
_OPENERS = frozenset({"and", "also", "or", "plus", "then"})
# Words any English sentence is made of: a name spelt only with them ("All Out!!") is that name
# only when written as one ("english edition all out?" asks whether every volume is out).
_FUNCTION_WORDS = frozenset(
    {"all", "out", "in", "on", "up", "off", "over", "back", "down", "one", "more", "no", "not", "yes", "so"}
    | {"it", "is", "the", "a", "an", "to", "of", "and", "or", "for", "at", "by", "with", "now", "then", "there"}
)
# Words after "is <name>" that ask about it as a title.
_ASKED_AFTER = frozenset(
    {
        "any",
        "good",
        "worth",
        "finished",
        "complete",
        "completed",
        "done",
        "ongoing",
        "out",
        "available",
        "scary",
        "ever",
    }
)
# Words said before a name that is answered or chosen ("ok bleach, how much per volume").
_LEAD_INS = frozenset({"ok", "okay", "alright", "fine", "so", "hmm", "yes", "yeah", "sure", "um"})
# A plain word read, loved or finished is a title ("i loved erased", "finished real").
_READ_VERBS = frozenset({"loved", "enjoyed", "liked", "finished", "reread", "adored", "love", "enjoy"})

_LATIN = re.compile(r"[a-z0-9]+")
# A remembered piece of a forgotten title (over folded text: brackets are spaces by then):
# 「アオなんとか」, 「タイトルにヒカルが入ってる」, 「パンチって付くタイトル」, "blue something, forgot the
# name", "the title has moon in it". Bounded quantifiers; the message is cut to MAX_LINK_CHARS.
_FRAGMENT = re.compile(
    r"(\S{2,12}?) ?(?:なんとか|ナントカ|何とか|なんちゃら|\bnan(?:n)?toka\b|\bnanchara\b)"
    r"|タイトルに ?(\S{2,12}?) ?(?:が|って|と)? ?(?:入って|入る|付く|つく|ついて)"
    r"|(\S{2,12}?) ?(?:って|という|っていう) ?(?:字|言葉|文字|単語)? ?(?:が)? ?(?:(?:タイトル|題名|名前)に ?)?"
    r"(?:付く|つく|入って|入る|ついて)"
    # 「スキップってやつ探してます」: the one called something like that
    r"|^(\S{2,12}?) ?(?:ってやつ|っていうやつ|って名前の|ってタイトルの)"
    # 「甥が『ヒカル』って漫画が欲しいらしい」: a name quoted as a manga's, one we cannot find whole
    r"|(?:^|\s)(\S{2,12}?) ?(?:って|という|っていう) ?(?:漫画|マンガ|まんが)"
    r"|\btitle (?:has|had|with|contains?) (?:the word )?([a-z]{3,12}) in it"
    r"|\b(?:with|has|had) (?:the word )?([a-z]{3,12}) in the (?:title|name)"
    # "blue something, forgot the name", "Ao no... something? I forget the rest" (a few words)
    r"|\b([a-z]{2,12}(?: [a-z]{2,12}){0,2}) (?:something|whatever|smth)\b"
    r"(?=.{0,60}(?:forgot|forget|remember|called|title|name|rest|忘れ|出てこない))"
    # "the Fire manga? forgot the rest of the title"
    r"|\bthe ([a-z]{3,12}) (?:manga|one|series|comic)\b(?=.{0,60}(?:forgot|forget|remember|rest of|忘れ|出てこない))"
)
_QUOTED_AS_MANGA = 5  # the group of _FRAGMENT that holds 「…って漫画」
_SOMETHING = re.compile(r"(?:なんとか|ナントカ|何とか|なんちゃら)$")
# "what's that other fujimoto one, fire something", "tokyo something, my coworker loves it": a
# piece that ends its clause with "something" is said to be incomplete, "forgot" said or not
# (over the message as typed: folding drops the punctuation that ends the clause).
_CLAUSE_SOMETHING = re.compile(r"\b([a-z]{2,12}(?: [a-z]{2,12}){0,2}) (?:something|smth)\s{0,3}(?:[,.?!…]|$)")
# The groups of _FRAGMENT that say a name is incomplete (「…なんとか」, "title has X in it",
# "X something, forgot"), so the titles holding the piece are meant even when the piece is
# itself a name (「デデデってタイトルに入ってる」 is not only デデデデ).
_INCOMPLETE_GROUPS = frozenset({1, 2, 3, 6, 7, 8, 9})
# A single word quoted as what someone asked for ("his wishlist just says 'Hikaru'"), over the
# message as typed (folding drops quotes).
_QUOTED_WORD = re.compile(r"(?:^|[\s(])['\"‘“]([A-Za-z]{3,12})['\"’”](?=$|[\s.,!?)])")
# A katakana word used as a series' name (「スキップの新刊いつ？」「ブルーのやつ何巻？」), read when
# nothing else is named: the Japanese titles it opens, as pieces (several are asked back).
_NAME_CUE = (
    r" ?(?:(?:の|って|は|も)? ?(?:新刊|最新|新しい巻|\d{1,3} ?巻|何巻|やつ|英語版|日本語版|完結|続き)|自体"
    # (「スキップってある?」「スキップは置いてますか」: asked whether we have it)
    r"|(?:って|は) ?(?:ある|あります|置いて|売って|扱って))"
)
_KATAKANA_AS_NAME = re.compile(r"(?<![ァ-ヺー])([ァ-ヺー]{3,12})(?![ァ-ヺー])" + _NAME_CUE)
# A title's opening run of kanji said as its name (「不滅のやつ」 for 不滅のあなたへ).
_KANJI_AS_NAME = re.compile(r"(?<![\u4e00-\u9fff々])([\u4e00-\u9fff々]{2,6})(?![\u4e00-\u9fff々])" + _NAME_CUE)
# A katakana piece of a title said as the one chosen (「ローファーのほう」 for スキップとローファー);
# a two-letter one only when it opens the title (「モブのほう」 for モブサイコ100).
_KATAKANA_CHOSEN = re.compile(r"(?<![ァ-ヺー])([ァ-ヺー]{2,12}) ?(?:のほう|の方)")
# The word a sequel adds to a name, said as a name: before a particle or the end in Japanese
# (「超のほうも」, not 「超面白い」); in English after "the/and/about/of" or before "one", "?"…
_SEQUEL_CJK = r"(?:^|(?<=[\s]))({})(?=\s?(?:のほう|の方|の|は|って|も|を|が)|\s*$)"
_SEQUEL_LATIN = r"(?:(?<=\bthe )|(?<=\band )|(?<=\babout )|(?<=\bof )|^)({})\b(?=\s*$| (?:one|series|manga|too|also|vol|volumes?|is|in)\b)"
MAX_SEQUEL_WORD = 12
# The original of a sequel: 「無印」, "the original (one|series)".
_ORIGINAL = re.compile(r"(無印|(?<=the )original\b)")
# The sequel itself asked for (not 「続きは何巻？」, the next volume).
_SEQUEL_SAID = re.compile(r"(続編|続き(?=の(?:やつ|ほう|方|漫画|マンガ|作品|シリーズ))|(?<=the )sequel\b)")
MAX_KINDS = 8  # kinds of story ruled out in one request
MAX_KIND_CHARS = 40
MAX_FRAGMENT_SERIES = 8  # a piece of a title shared by more series than this is asked back among these
MIN_FRAGMENT_CJK = 2
_VOWELS = re.compile(r"([aeiou])\1+")


_ACCENTS = str.maketrans("āáàâäēéèêëīíìîïōóòôöūúùûü", "aaaaaeeeeeiiiiiooooouuuuu")


# A short hiragana name read as a word of the sentence: inside a longer word (「一人ぼっち」
# 「ひとりぼっち」) or used as an adjective or adverb (「ぼっちな」「ぼっちで」).
MAX_PLAIN_HIRAGANA = 3
_PARTICLES_BEFORE = frozenset("のはもとがをにへやで、。！？!? ")


def _inside_hiragana_word(s: str, i: int, key: str) -> bool:
    if len(key) > MAX_PLAIN_HIRAGANA or not all("\u3041" <= ch <= "\u309f" for ch in key):
        return False
    before = s[i - 1] if i else " "
    after = s[i + len(key)] if i + len(key) < len(s) else " "
    word_before = ("\u4e00" <= before <= "\u9fff") or (
        "\u3041" <= before <= "\u309f" and before not in _PARTICLES_BEFORE
    )
    return word_before or after in "なで"


def _group_of(match: re.Match[str]) -> int:
    """The group of ``_FRAGMENT`` that matched."""
    return next(i for i in range(1, len(match.groups()) + 1) if match.group(i))


# Japanese syllables in romaji, any length (``shared_text.is_romaji`` wants five letters or more).
_ROMAJI_SYLLABLES = re.compile(
    r"(?:(?:ch|sh|ts|[kgszjtdnhbpmyrwf])?y?[aeiou]|n(?![aeiouy])|[kgstdpbmc](?=[kgstdpbmc]))+"
)


# A sound English spelling rarely has: a four-letter part needs one ("Anya", "Kujo"; not
# "Zero", "Kana", "Duke").
_JAPANESE_SOUND = re.compile(r"ny|ky|ry|gy|hy|my|py|by|sh|ch|ts|j|fu|ou|uu|oo")


def _character_name_parts(series: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The given or family name of a hero written in full ("Anya" of "Anya Forger", "Itadori"),
    when it is spelt like Japanese (so never "Light" or "Monkey"), long enough, and no other
    series' hero, title or author has it."""
    owners: dict[str, set[str]] = defaultdict(set)
    taken: set[str] = set()
    for s in series:
        for name in (s["title_en"], s["title_romaji"], *s.get("aliases", ()), *s.get("authors_en", ())):
            taken.update(fold(name).split())
        for name in s.get("characters", ()):
            parts = fold(name).split()
            for part in parts if len(parts) > 1 else ():
                key = latin_key(part)  # (as looked up: "Moore" is "more")
                if _ROMAJI_SYLLABLES.fullmatch(part) and (
                    len(key) > MIN_NAME_PART or (len(key) == MIN_NAME_PART and _JAPANESE_SOUND.search(key))
                ):
                    owners[part].add(s["series_id"])
    out: dict[str, list[str]] = defaultdict(list)
    for part, sids in sorted(owners.items()):
        if len(sids) == 1 and part not in taken:
            out[next(iter(sids))].append(part.capitalize())
    families = {family for s in series for a in s.get("authors_ja", ()) for family in _kanji_family_names(a)}
    for sid, names in _japanese_name_parts(series, families).items():
        out[sid].extend(names)
    return out


# A hero's name written family name in kanji, given name in katakana: 則巻アラレ.
_KANJI_THEN_KATAKANA = re.compile(r"[\u4e00-\u9fff々]{1,4}([ァ-ヺー]{3,8})")
# and a four- or five-kanji name, whose first two are the family name: 鬼塚英吉, 竈門炭治郎
# (a three-kanji one splits either way: 潔|世一, 史朗 of 筧史朗).
_KANJI_FULL_NAME = re.compile(r"([\u4e00-\u9fff々]{2})[\u4e00-\u9fff々]{2,3}")
# How customers call a hero by the family name: 「鬼塚先生」「竈門くん」.
_HERO_TITLES = ("先生", "さん", "くん", "君", "ちゃん")


def _as_r(key: str) -> str:
    """A romaji key with l as r: katakana has one sound for both (アラレ, "Arale")."""
    return key.replace("l", "r")


def _japanese_name_parts(series: list[dict[str, Any]], author_families: set[str]) -> dict[str, list[str]]:
    """A Japanese hero's given name in katakana (「アラレ」 of 則巻アラレ) and a kanji family name
    with the title customers put after it (「鬼塚先生」 of 鬼塚英吉), when no other series' hero,
    title or alias has that piece and no author that family name (「高橋先生」 is the author)."""
    owners: dict[tuple[str, bool], set[str]] = defaultdict(set)
    taken: set[str] = set(author_families)
    for s in series:
        for name in (s["title_ja"], *s.get("aliases", ())):
            taken.add(fold(name).replace(" ", ""))
        # (the katakana read as one of the hero's Latin names in the catalog: アラレ as "Arale",
        # never 無免ライダー's ライダー, a word)
        latin = {
            _as_r(latin_key(word))
            for name in s.get("characters", ())
            if _is_latin(fold(name))
            for word in fold(name).split()
        }
        for name in s.get("characters", ()):
            folded = fold(name).replace(" ", "")
            if (given := _KANJI_THEN_KATAKANA.fullmatch(folded)) and _as_r(latin_key(romaji(given.group(1)))) in latin:
                owners[(given.group(1), False)].add(s["series_id"])
            if family := _KANJI_FULL_NAME.fullmatch(folded):
                owners[(family.group(1), True)].add(s["series_id"])
    out: dict[str, list[str]] = defaultdict(list)
    for (piece, is_family), sids in sorted(owners.items()):
        if len(sids) == 1 and piece not in taken:
            sid = next(iter(sids))
            out[sid].extend([piece + title for title in _HERO_TITLES] if is_family else [piece])
    return out


_KANJI_RUN = re.compile(r"[\u4e00-\u9fff々]+")
_KANA_ONLY = re.compile(r"[\u3041-\u30ffー]+")
MAX_MIXED_RUNS = 4  # kanji runs in a title whose readings are mixed in (2^4 spellings at most)


def _mixed_spellings(title: str, reading: str) -> list[str]:
    """A Japanese title with some of its kanji typed in kana, as customers do when they do not
    know the characters (「しんげきの巨人」「進撃のきょじん」), from the title and a kana alias
    that reads it whole (しんげきのきょじん). The title's kana pieces anchor the reading: each
    kanji run reads what stands between them. Nothing is made when they do not line up."""
    key, whole = fold(title).replace(" ", ""), fold(reading).replace(" ", "")
    if not _KANA_ONLY.fullmatch(whole) or not _KANJI_RUN.search(key):
        return []
    pieces = [m.group() for m in re.finditer(r"[\u4e00-\u9fff々]+|[^\u4e00-\u9fff々]+", key)]
    kanji = [i for i, piece in enumerate(pieces) if _KANJI_RUN.fullmatch(piece)]
    if len(kanji) > MAX_MIXED_RUNS:
        return []
    pattern = "".join("(.+?)" if i in kanji else re.escape(p.translate(_TO_HIRAGANA)) for i, p in enumerate(pieces))
    match = re.fullmatch(pattern, whole.translate(_TO_HIRAGANA))
    greedy = re.fullmatch(pattern.replace("(.+?)", "(.+)"), whole.translate(_TO_HIRAGANA))
    # (one way to line them up only: 彼氏彼女の事情 / かれしかのじょのじじょう has two)
    if match is None or greedy is None or match.groups() != greedy.groups():
        return []
    readings = dict(zip(kanji, match.groups(), strict=True))
    out = []
    for mask in range(1, 2 ** len(kanji)):
        chosen = {i for bit, i in enumerate(kanji) if mask >> bit & 1}
        out.append("".join(readings[i] if i in chosen else p for i, p in enumerate(pieces)))
    return [spelling for spelling in out if spelling.translate(_TO_HIRAGANA) != whole.translate(_TO_HIRAGANA)]


# ヴ as the sounds customers more often type for it (「エバンゲリオン」 for エヴァンゲリオン).
_VU = (("ヴァ", "バ"), ("ヴィ", "ビ"), ("ヴェ", "ベ"), ("ヴォ", "ボ"), ("ヴ", "ブ"))


def _without_vu(key: str) -> str:
    for vu, plain in _VU:
        key = key.replace(vu, plain)
    return key


def _incomplete(match: re.Match[str]) -> bool:
    """Whether the customer says the name matched by ``_FRAGMENT`` is only a piece of one."""
    group = _group_of(match)
    return group in _INCOMPLETE_GROUPS or bool(_SOMETHING.search(match.group(group)))


# A dash typed for the long-vowel mark inside katakana (「ロ-ファー」, 「ブル－ロック」).
_DASH_IN_KATAKANA = re.compile(r"(?<=[ァ-ヺ])[-‐‑‒–—―−](?=[ァ-ヺ])")


def fold(text: str) -> str:
    """NFKC, lower case, Latin accents and macrons dropped (Haikyū → haikyu), a dash inside
    katakana as ー, punctuation and decorations (【】!!×・～) as spaces (one character each)."""
    folded = _DASH_IN_KATAKANA.sub("ー", shared_text.fold(text).translate(_ACCENTS))
    return shared_text.words(folded.replace("×", " "))


def latin_key(text: str) -> str:
    """A Latin name's lookup key: no spaces, long vowels and ``ou`` folded (Haikyuu → haikyu)."""
    key = text.replace(" ", "").replace("ou", "o").replace("oh", "o")
    return _VOWELS.sub(r"\1", key)


_CJK_GLOSSARY = tuple(word for word in GLOSSARY if not word.isascii())
_GLOSSARY_WORDS = frozenset(_CJK_GLOSSARY)
# A word going on into a compound noun (kanji or katakana next): 「モンスター料理」.
_COMPOUND = re.compile(r"[\u4e00-\u9fff\u30a1-\u30fa]")
# What makes a word a kind of story: 「日常系」「日常もの」「日常っぽい」.
_KIND_SUFFIX = re.compile(r"系|もの|物|っぽ|漫画|マンガ")


# What joins two titles named together: "naruto or bleach", "monster vs pluto", "bleach, naruto".
_LISTED = re.compile(r"\s*(?:or|and|vs\.?|versus|&|,|/|か|と)\s*")


# Words that list names ("naruto and bleach"): a misspelt name never starts or ends on one.
_JOINERS = frozenset({"and", "or", "vs", "versus", "then", "plus"})
# Japanese particles typed in romaji: a short window holding one is read as words, not a typo.
_PARTICLES = frozenset({"no", "wa", "ga", "wo", "ni", "de", "mo", "ka", "tte", "ne", "yo"})
MIN_FUZZY_ACROSS_PARTICLE = 8
# English little words: a window mostly of them is no misspelt name ("as a girl" ≠ Asagiri):
# articles, prepositions and conjunctions; pronouns; the shortest verbs.
_LITTLE_WORDS = (
    frozenset({"a", "an", "as", "at", "by", "if", "in", "of", "on", "or", "so", "to", "up"})
    | frozenset({"he", "i", "it", "me", "my", "us", "we"})
    | frozenset({"am", "be", "do", "is"})
)
# Words a title's opening may not end on ("Attack on", "The Way of").
_OPENING_FILLER = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "on",
        "in",
        "to",
        "at",
        "and",
        "for",
        "with",
        "no",
        "wa",
        "ga",
        "ni",
        "de",
        "my",
        "your",
        "is",
        "are",
    }
)
MIN_OPENING = 10  # letters in a title's opening that names it
MAX_PADDING = 3  # characters a misspelt window may add around an exact name and still be only padding


def _find_all(text: str, word: str) -> list[int]:
    found: list[int] = []
    at = text.find(word)
    while at >= 0 and len(found) < 8:
        found.append(at)
        at = text.find(word, at + 1)
    return found


def _contraction_tails(text: str, words: list[tuple[str, int, int]]) -> frozenset[int]:
    """Where in the folded message the words that end a contraction start ("that's" → "s",
    "don't" → "t"): ``fold`` made the apostrophe a space, so "s funny" would look like a name."""
    if "'" not in text and "\u2019" not in text:
        return frozenset()
    unspaced = shared_text.fold(text).translate(_ACCENTS).replace("×", " ")
    offsets = shared_text.words_offsets(unspaced)
    return frozenset(start for _, start, _ in words if start and unspaced[offsets[start] - 1] in "'\u2019")


def _is_latin(text: str) -> bool:
    return bool(text) and all(c.isascii() for c in text)


_KANJI_NAME = re.compile(r"[\u4e00-\u9fff々]{3,6}")
_HONORIFICS = ("先生", "さん", "氏")


def _kanji_family_names(author: str) -> tuple[str, ...]:
    """The family names a Japanese author's kanji name may start with. The catalog has no
    reading to split it by: two kanji is the common family name (尾田|栄一郎, 浦沢|直樹); a
    three-kanji name may also have a one-kanji one (原|泰久, 奥|浩哉)."""
    if not _KANJI_NAME.fullmatch(author):
        return ()
    return (author[:2], author[:1]) if len(author) == 3 else (author[:2],)


def _windows(folded: str, words: list[tuple[str, int, int]]) -> list[tuple[int, int, str, str]]:
    """Runs of up to ``MAX_WINDOW`` adjacent Latin words: (first, last, joined, lookup key)."""
    out: list[tuple[int, int, str, str]] = []
    for i in range(len(words)):
        joined = ""
        for j in range(i, min(i + MAX_WINDOW, len(words))):
            if j > i and not folded[words[j - 1][2] : words[j][1]].isspace():
                break  # a Japanese run between two Latin words ends the window
            joined += words[j][0]
            out.append((i, j, joined, latin_key(joined)))
    return out


@dataclass(frozen=True)
class Name:
    series_id: str
    kind: str  # "title", "alias", "romaji", "character", "author", "partial", "absent", "sequel"
    name: str  # the catalog's spelling
    author_series: tuple[str, ...] = ()
    relative_to: tuple[str, ...] = ()  # a "sequel": the series whose name the word adds to


@dataclass(frozen=True)
class Link:
    """One series (or author) named in a message."""

    series_id: str
    kind: str
    name: str
    score: float
    start: int  # span in the folded message
    end: int
    fuzzy: bool = False
    author_series: tuple[str, ...] = ()
    relative_to: tuple[str, ...] = ()  # a "sequel" names its series only while one of these is talked about


@dataclass
class _Candidate:
    names: list[Name]
    start: int
    end: int
    fuzzy: bool
    words: int = 1


def _after_author_cue(words: list[tuple[str, int, int]], i: int) -> bool:
    """Whether word ``i`` follows "by"/"from" as a name does ("by oda"), not as in "one by one",
    or is the one who drew or wrote ("what else did inoue draw")."""
    return (i > 0 and words[i - 1][0] in _AUTHOR_CUES and not (i > 1 and words[i - 2][0] == words[i][0])) or (
        i > 0 and words[i - 1][0] in _DID and i + 1 < len(words) and words[i + 1][0] in _CREATED
    )


def rating_age(rating: str) -> int:
    """The youngest reader an age rating allows: "all" → 0, "13+" → 13; an unknown rating
    counts as adults only (18), so a child is never shown a series the catalog cannot vouch for."""
    if rating == "all":
        return 0
    digits = rating.rstrip("+")
    return int(digits) if digits.isdigit() else 18


@dataclass
class CatalogLinker:
    """Name dictionaries over the series records; ``link`` finds the names in a message."""

    latin: dict[str, list[Name]] = field(default_factory=lambda: defaultdict(list))
    cjk: dict[str, list[Name]] = field(default_factory=lambda: defaultdict(list))
    mixed: dict[str, list[Name]] = field(default_factory=lambda: defaultdict(list))
    series_titles: dict[str, str] = field(default_factory=dict)
    _works_by_authors_of: dict[str, frozenset[str]] = field(default_factory=dict)
    _tags: dict[str, str] = field(default_factory=dict)  # series → its tags, folded, "|"-joined
    _genres: dict[str, frozenset[str]] = field(default_factory=dict)  # series → its genres
    _rated_for: dict[str, int] = field(default_factory=dict)  # series → the youngest age its rating allows
    _genre_words: set[str] = field(default_factory=set)  # every genre's words ("sci", "fi", "romance")
    _synopses: dict[str, str] = field(default_factory=dict)  # series → its synopses, folded
    # series → edition language → (volumes, price of a volume), for limits relative to a series
    _editions: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    _cjk_by_first: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _cjk_bigrams: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _exact_only: set[str] = field(default_factory=set)  # never matched with a typo (「原さん」 is no 篠原さん)
    _title_words: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _every_title_word: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _cjk_titles: dict[str, str] = field(default_factory=dict)  # a Japanese title or alias → series
    # series → its Latin titles, romaji and aliases, folded, space-padded (runs of title words)
    _latin_names: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # Words of the catalog's kinds of story ("samurai", "time travel"): asked for, never a misspelt name.
    _story_words: set[str] = field(default_factory=set)
    # what a series' name adds to another's → {that series: the others}: 「超」 → {DB Super: {DB}}
    _sequel_words: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    _sequel_patterns: list[re.Pattern[str]] = field(default_factory=list)
    _by_head: dict[tuple[int, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    _by_tail: dict[tuple[int, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def from_series(cls, series: list[dict[str, Any]], absent: Iterable[dict[str, Any]] = ()) -> CatalogLinker:
        """``absent``: well-known titles the shop does not carry (title_en, title_ja,
        title_romaji, aliases), linked as kind ``absent`` (never searched: no rows)."""
        linker = cls()
        credited: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for s in series:
            for credits in (s.get("authors_en", ()), s.get("authors_ja", ())):
                for position, author in enumerate(credits):
                    credited[author].append((position, s["series_id"]))
        # An author's own works first, then those credited after another (「手塚治虫」: Black Jack
        # before Pluto, Urasawa's remake of his story); catalog order otherwise (a stable sort).
        by_author = {a: [sid for _, sid in sorted(works, key=lambda w: w[0])] for a, works in credited.items()}
        for s in series:
            linker._tags[s["series_id"]] = "|" + "|".join(fold(t) for t in s.get("tags", ())) + "|"
            linker._genres[s["series_id"]] = frozenset(s.get("genres", ()))
            linker._rated_for[s["series_id"]] = rating_age(s.get("age_rating", "all"))
            linker._genre_words.update(w for genre in s.get("genres", ()) for w in genre.split("-"))
            linker._synopses[s["series_id"]] = fold(f"{s.get('synopsis_ja', '')} {s.get('synopsis_en', '')}")
            linker._editions[s["series_id"]] = {
                language: (int(s[volumes]), int(s[price]))
                for language, volumes, price in (
                    ("ja", "volumes_ja", "price_jpy"),
                    ("en", "volumes_en", "price_en_jpy"),
                )
                if s.get(volumes) and s.get(price)
            }
            authors = (*s.get("authors_en", ()), *s.get("authors_ja", ()))
            linker._works_by_authors_of[s["series_id"]] = frozenset(w for a in authors for w in by_author[a])
        name_parts = _character_name_parts(series)
        surnames: dict[str, set[str]] = defaultdict(set)
        for author in by_author:
            parts = fold(author).split()
            if len(parts) == 2 and _is_latin(author):
                surnames[parts[1]].add(author)
            for family in _kanji_family_names(author):
                surnames[family].add(author)
        for s in series:
            sid = s["series_id"]
            linker.series_titles[sid] = s["title_en"]
            names = [
                Name(sid, "title", s["title_en"]),
                Name(sid, "title", s["title_ja"]),
                Name(sid, "romaji", s["title_romaji"]),
            ]
            names += [Name(sid, "alias", a) for a in s.get("aliases", ())]
            names += [
                Name(sid, "alias", mixed)
                for reading in s.get("aliases", ())
                for mixed in _mixed_spellings(s["title_ja"], reading)
            ]
            characters = [Name(sid, "character", a) for a in s.get("characters", ())]
            characters += [Name(sid, "character", part) for part in name_parts.get(sid, ())]
            names += characters
            # A hero's name is never a typo of something else ("fluffy" is no Luffy).
            linker._exact_only.update(fold(n.name).replace(" ", "") for n in characters)
            for author in (*s.get("authors_en", ()), *s.get("authors_ja", ())):
                names.append(Name(sid, "author", author, tuple(by_author[author])))
                # Customers often write a Latin name family-name first, or the family name alone
                # is ambiguous; "Eiichiro Oda" also as "Oda Eiichiro".
                parts = fold(author).split()
                if len(parts) == 2 and _is_latin(author):
                    names.append(Name(sid, "author", f"{parts[1]} {parts[0]}", tuple(by_author[author])))
                    if len(parts[1]) >= MIN_SURNAME:
                        # A family name alone ("by Urasawa"); shared by several authors ("Oda"), it
                        # names the works of each of them.
                        works = tuple(dict.fromkeys(w for a in sorted(surnames[parts[1]]) for w in by_author[a]))
                        names.append(Name(sid, "author", parts[1].capitalize(), works))
                for family in _kanji_family_names(author):
                    # 「尾田先生の新刊」「浦沢さんの作品」: a family name is linked only with its honorific.
                    works = tuple(dict.fromkeys(w for a in sorted(surnames[family]) for w in by_author[a]))
                    # (not a one-kanji one with さん: 「奥さんにプレゼント」 is a wife, not 奥浩哉)
                    # (and a two-kanji one before の: 「冨樫の他のやつ」)
                    titles = (*_HONORIFICS, "の") if len(family) > 1 else _HONORIFICS[:1] + _HONORIFICS[2:]
                    names += [Name(sid, "author", family + title, works) for title in titles]
                    linker._exact_only.update(family + title for title in titles)
            for n in names:
                linker._add(n)
        for record in absent:
            sid = f"{ABSENT}:{latin_key(fold(record['title_en']))}"
            for spelling in (
                record["title_en"],
                record.get("title_ja", ""),
                record.get("title_romaji", ""),
                *record.get("aliases", ()),
            ):
                if spelling:
                    linker._add(Name(sid, ABSENT, spelling))
        for s in series:
            for word in set(fold(s["title_en"]).split()):
                if len(word) >= MIN_PARTIAL and word.isalpha() and word not in _TITLE_FILLER:
                    linker._title_words[latin_key(word)].add(s["series_id"])
            for name in (s["title_en"], s["title_romaji"], *s.get("aliases", ())):
                if _is_latin(fold(name)):
                    linker._latin_names[s["series_id"]].append(f" {fold(name)} ")
                for word in fold(name).split():
                    if len(word) >= MIN_LATIN and _is_latin(word):
                        linker._every_title_word[latin_key(word)].add(s["series_id"])
            for name in (s["title_ja"], *s.get("aliases", ())):
                key = fold(name).replace(" ", "")
                if key and not _is_latin(key):
                    linker._cjk_titles.setdefault(key, s["series_id"])
        for s in series:
            for word in (*s.get("tags", ()), *s.get("genres", ())):
                linker._story_words.add(latin_key(fold(word)))
                linker._story_words.update(latin_key(w) for w in fold(word).split())
        linker._add_title_openings(series)
        linker._add_japanese_openings(series)
        linker._add_sequels(series)
        for key in linker.latin:
            linker._by_head[(len(key), key[:2])].append(key)
            linker._by_tail[(len(key), key[-2:])].append(key)
        for key in linker.cjk:
            linker._cjk_by_first[key[0]].append(key)
            # A short name in hiragana only is one edit from ordinary words (かのかり, かかり).
            if key not in linker._exact_only and len(key) >= (
                MIN_FUZZY_HIRAGANA if _HIRAGANA.fullmatch(key) else MIN_FUZZY_CJK
            ):
                for i in range(len(key) - 1):
                    linker._cjk_bigrams[key[i : i + 2]].add(key)
        for keys in linker._cjk_by_first.values():
            keys.sort(key=len, reverse=True)
        return linker

    def _add_title_openings(self, series: list[dict[str, Any]]) -> None:
        """A long English title is often cut short ("Dead Dead Demons" for "Dead Dead Demons
        Dededede Destruction"): its opening words (two or more content words, not ending on a
        particle) name it, when no other series opens that way and no name is spelt so."""
        openings: dict[str, set[str]] = defaultdict(set)
        spelt: dict[str, str] = {}
        firsts: dict[str, set[str]] = defaultdict(set)
        for s in series:
            # (a Japanese word both titles keep: "Kaguya-sama" / "Kaguya-sama wa Kokurasetai")
            first = fold(s["title_en"]).split()[:1]
            if (
                first
                and len(first[0]) >= MIN_ROMAJI_OPENING
                and shared_text.is_romaji(first[0])
                and first[0] in fold(s["title_romaji"]).split()
            ):
                firsts[latin_key(first[0])].add(s["series_id"])
                spelt[latin_key(first[0])] = first[0]
            tokens = s["title_en"].split()
            for n in range(2, len(tokens)):
                head = fold(" ".join(tokens[:n])).split()
                content = [w for w in head if w not in _OPENING_FILLER]
                if not head or head[-1] in _OPENING_FILLER or len(content) < 2 or len("".join(head)) < MIN_OPENING:
                    continue
                key = latin_key(" ".join(head))
                openings[key].add(s["series_id"])
                spelt[key] = " ".join(tokens[:n]).rstrip(":,-")
        for key, owners in openings.items():
            if len(owners) == 1 and key not in self.latin:
                self.latin[key].append(Name(next(iter(owners)), "alias", spelt[key]))
        for key, owners in firsts.items():
            # A Japanese first word opens one title only ("go back to kaguya", "sakamoto"): it
            # names that one, unless it is a name already or a kind of story.
            if (
                len(owners) == 1
                and key not in self.latin
                and key not in self._story_words
                and len(self._every_title_word.get(key, owners)) == 1  # no other title has the word
            ):
                self.latin[key].append(Name(next(iter(owners)), "alias", spelt[key]))

    def _add_japanese_openings(self, series: list[dict[str, Any]]) -> None:
        """A Japanese title cut at its first の (「斉木楠雄」 for 「斉木楠雄のΨ難」, 「ベルサイユ」 for
        「ベルサイユのばら」) names it, when no other series' name opens or is spelt that way and the
        cut is no word: long enough (テニス is one), not all hiragana, a katakana word longer
        still (キッチン), and no kind of story (魔法使い)."""
        openings: dict[str, set[str]] = defaultdict(set)
        spelt: dict[str, str] = {}
        for s in series:
            for name in (s["title_ja"], *s.get("aliases", ())):
                whole = fold(name).replace(" ", "")
                head = whole.split("の")[0]
                if (
                    head != whole
                    and len(head) >= (MIN_JA_OPENING + 1 if _KATAKANA.fullmatch(head) else MIN_JA_OPENING)
                    and not _is_latin(head)
                    and not _HIRAGANA.fullmatch(head)
                    and head not in _CJK_GLOSSARY
                ):
                    openings[head].add(s["series_id"])
                    spelt[head] = name
        for head, owners in openings.items():
            if len(owners) == 1 and head not in self.cjk:
                self.cjk[head].append(Name(next(iter(owners)), "alias", spelt[head]))

    def _add_sequels(self, series: list[dict[str, Any]]) -> None:
        """A series whose name is another's plus a word (ドラゴンボール超, "Dragon Ball Super"):
        that word, said while the other is talked about, names it (see ``_sequel_named``)."""

        def names(s: dict[str, Any]) -> set[str]:
            spelt = (s["title_en"], s["title_ja"], s["title_romaji"], *s.get("aliases", ()))
            return {" ".join(fold(n).split()) for n in spelt if n}

        spellings = {s["series_id"]: names(s) for s in series}
        for base, base_names in spellings.items():
            for other, other_names in spellings.items():
                if other == base:
                    continue
                for name in base_names:
                    for longer in other_names:
                        rest = longer[len(name) :].strip()
                        if (
                            longer.startswith(name)
                            and rest
                            and len(rest) <= MAX_SEQUEL_WORD
                            and (not _is_latin(name) or longer[len(name)] == " ")
                        ):
                            self._sequel_words[rest][other].add(base)
        # One pattern per script, built once: a message is scanned twice, whatever the catalog holds.
        for latin, template in ((True, _SEQUEL_LATIN), (False, _SEQUEL_CJK)):
            words = sorted((w for w in self._sequel_words if _is_latin(w) == latin), key=len, reverse=True)
            if words:
                self._sequel_patterns.append(re.compile(template.format("|".join(map(re.escape, words)))))

    def _sequel_named(self, folded: str) -> list[_Candidate]:
        """The word a series adds to another's name, said as a name (「超のほうも」「超は完結して
        る？」, "what about super?"): kind "sequel", relative to the other series. The linker
        does not know the conversation; the intent service keeps the link only while that
        series is talked about."""
        out: list[_Candidate] = []
        for pattern in self._sequel_patterns:
            for m in pattern.finditer(folded):
                for other, bases in self._sequel_words[m.group(1)].items():
                    name = Name(other, "sequel", self.series_titles[other], relative_to=tuple(sorted(bases)))
                    out.append(_Candidate([name], m.start(1), m.end(1), False))
        # 「ドラゴンボールの続編」「続きのやつ」, "the sequel": every series that goes on from another,
        # kept by the intent service only for the one talked about.
        for m in _SEQUEL_SAID.finditer(folded):
            for pairs in self._sequel_words.values():
                for other, bases in pairs.items():
                    name = Name(other, "sequel", self.series_titles[other], relative_to=tuple(sorted(bases)))
                    out.append(_Candidate([name], m.start(1), m.end(1), False))
        # 「無印の方は何巻？」, "the original one": the series a sequel talked about goes on from.
        for m in _ORIGINAL.finditer(folded):
            for pairs in self._sequel_words.values():
                for other, bases in pairs.items():
                    for base in sorted(bases):
                        name = Name(base, "sequel", self.series_titles[base], relative_to=(other,))
                        out.append(_Candidate([name], m.start(1), m.end(1), False))
        return out

    def works_by_authors_of(self, series_ids: Iterable[str]) -> frozenset[str]:
        """Every series by an author of any of ``series_ids`` (themselves included)."""
        return frozenset(w for sid in series_ids for w in self._works_by_authors_of.get(sid, ()))

    def series_of_every_genre(self, genres: Iterable[str]) -> frozenset[str]:
        """The series that have all of these genres (a romance that is also a drama)."""
        wanted = frozenset(genres)
        return frozenset(sid for sid, have in self._genres.items() if wanted <= have)

    def below(self, series_ids: Iterable[str], language: str | None, which: int) -> int | None:
        """The highest volume count (``which`` 0) or volume price (1) below every one of these
        series' (in that edition, the Japanese one when none is asked), or ``None``."""
        known = [
            editions.get(language or "ja") or editions.get("ja")
            for sid in series_ids
            if (editions := self._editions.get(sid))
        ]
        values = [edition[which] for edition in known if edition]
        return min(values) - 1 if values else None

    def series_rated_above(self, age: int) -> frozenset[str]:
        """The series whose age rating is for readers older than ``age`` (0: every series not
        rated for all ages)."""
        return frozenset(sid for sid, rated in self._rated_for.items() if rated > age)

    def series_of_kinds(self, kinds: Iterable[str]) -> frozenset[str]:
        """The series tagged with any of these kinds of story, as the customer typed them
        ("basketball", "cooking battles", 「バスケ」 through the glossary): a tag holds the kind as
        whole words, singular or plural."""
        out: set[str] = set()
        for kind in list(kinds)[:MAX_KINDS]:
            term = fold(GLOSSARY.get(kind, kind))[:MAX_KIND_CHARS]
            term = term[:-1] if term.endswith("s") and len(term) > 3 else term
            if len(term) < MIN_LATIN:
                continue
            word = re.compile(r"(?<![a-z])" + re.escape(term) + r"(?:s|es)?(?![a-z])")
            out |= {sid for sid, tags in self._tags.items() if word.search(tags)}
        return frozenset(out)

    def _add(self, n: Name) -> None:
        folded = fold(n.name)
        if not folded:
            return
        if _is_latin(folded):
            for spelt in dict.fromkeys((folded, re.sub(r"(?<= )and (?=\S)", "", folded))):
                # ("Lone Wolf & Cub": the & is folded away, so the name is also kept without its "and")
                key = latin_key(spelt)
                if len(key) >= MIN_LATIN and n not in self.latin[key]:
                    self.latin[key].append(n)
            return
        key = folded.replace(" ", "")
        if re.search(r"[a-z]", key):
            # Both scripts in one name (Dr.スランプ, CCさくら): matched on the message without spaces.
            if len(key) >= MIN_CJK and n not in self.mixed[key]:
                self.mixed[key].append(n)
            return
        for spelt in {key, _without_vu(key)}:
            if len(spelt) >= MIN_CJK and n not in self.cjk[spelt]:
                self.cjk[spelt].append(n)
        for other_script in {key.translate(_TO_HIRAGANA), key.translate(_TO_KATAKANA)} - {key}:
            # 「はがれん」 for ハガレン, 「ダンジョンメシ」 for だんじょんめし: kana typed in the other script.
            if len(other_script) >= MIN_KANA_VARIANT and n not in self.cjk[other_script]:
                self.cjk[other_script].append(n)
                if key in self._exact_only:
                    # (nor is a hero's name in the other script a typo: らむちゃん is no さくらちゃん)
                    self._exact_only.add(other_script)
        reading = romaji(key)
        if _is_latin(reading) and len(reading) >= MIN_KANA_ROMAJI:
            # A kana-only name also matches its romaji reading typed in Latin letters.
            lk = latin_key(reading)
            if n not in self.latin[lk]:
                self.latin[lk].append(n)

    def link(self, text: str) -> list[Link]:
        """The series and authors the message names, best first (deterministic)."""
        folded = fold(text[:MAX_LINK_CHARS])
        if not folded:
            return []
        words = [(m.group(), m.start(), m.end()) for m in _LATIN.finditer(folded)]
        windows = _windows(folded, words)
        tails = _contraction_tails(text[:MAX_LINK_CHARS], words)
        # (a hero's name is never spelt from a contraction's tail: "author's other" is no Souther)
        candidates = self._exact(folded, text, words, [w for w in windows if words[w[0]][1] not in tails])
        # Typos are looked for even beside exact names: the longer (misspelt) title wins over a
        # short exact word inside it ("Maarch Comes in Like a Lion").
        candidates += self._fuzzy(tails, words, windows)
        if not any(not c.fuzzy for c in candidates):
            candidates += self._fuzzy_cjk(folded)
        match = _FRAGMENT.search(folded) or self._clause_something(text[:MAX_LINK_CHARS], folded)
        # (read only when they can be used: no names found, or a piece said to be incomplete)
        wanted = match is not None and (not candidates or _incomplete(match))
        fragments = self._fragments(folded, match) if match is not None and wanted else []
        if fragments and candidates and len(fragments[0].names) > 1:
            # The customer says the name is incomplete, and several titles hold the piece: those
            # of an author named beside it, when some are ("that other fujimoto one, fire something").
            works = {sid for c in candidates for n in c.names if n.kind == "author" for sid in n.author_series}
            theirs = [n for n in fragments[0].names if n.series_id in works]
            candidates = [replace(fragments[0], names=theirs)] if theirs else fragments
        elif fragments and not any(fragments[0].start < c.end and c.start < fragments[0].end for c in candidates):
            # ("that other fujimoto one, fire something": the one piece beside the author's name)
            candidates += fragments
        if not candidates:
            candidates = (
                fragments
                or self._quoted_word(text[:MAX_LINK_CHARS], folded)
                or self._partial(folded)
                or self._katakana_opening(folded)
            )
        else:
            # 「スキップ・ビートじゃなくて、ローファーの方ね」: a piece chosen beside a name
            candidates += [
                piece
                for piece in self._katakana_opening(folded, chosen_only=True)
                if not any(piece.start < c.end and c.start < piece.end for c in candidates)
            ]
        candidates = [self._narrowed(folded, c) if len(c.names) > 1 else c for c in candidates]
        candidates += self._sequel_named(folded)
        return self._resolve(candidates)

    def _clause_something(self, text: str, folded: str) -> re.Match[str] | None:
        """``_CLAUSE_SOMETHING`` over the typed message, found again in the folded one (its
        group 1, an incomplete piece); never a kind of story ("romance something?")."""
        said = _CLAUSE_SOMETHING.search(unicodedata.normalize("NFKC", text).lower())
        if said is None or said.group(1).split()[-1] in self._genre_words:
            return None
        return re.search(rf"\b({re.escape(fold(said.group(1)))}) (?:something|smth)\b", folded)

    def _narrowed(self, folded: str, candidate: _Candidate) -> _Candidate:
        """A piece of a title several series hold, said beside the kind of story it is
        (「Blueなんとかってやつ、サッカーの漫画」): only those of that kind, when some are."""
        if any(n.kind != "partial" for n in candidate.names):
            return candidate
        outside = folded[: candidate.start] + " " * (candidate.end - candidate.start) + folded[candidate.end :]
        kinds = [w for w in _CJK_GLOSSARY if w in outside]
        kinds += [w for w in _LATIN.findall(outside) if len(w) >= MIN_LATIN and latin_key(w) in self._story_words]
        # (the piece said again, 「東京なんとか… the tokyo one」: a word of every title holding
        # the piece chooses none of them)
        held = {n.series_id for n in candidate.names}
        kinds = [
            k
            for k in kinds
            if not held
            <= (
                {sid for sid, names in self._latin_names.items() if any(f" {k} " in n for n in names)}
                if _is_latin(k)
                else {sid for key, sid in self._cjk_titles.items() if k in key}
            )
        ]
        if not kinds:
            return candidate
        genres = {fold(GLOSSARY.get(k, k)).replace(" ", "-") for k in kinds}
        fitting = self.series_of_kinds(kinds) | {sid for sid, have in self._genres.items() if genres & have}
        # (or whose story says it: Witch Watch's 「ニコの魔法」 is a 「魔法のやつ」 too)
        # (a kind's own word only, not a word of a longer tag: "the" of "after the quest")
        said = [re.escape(k) for k in kinds if not _is_latin(k)] + [
            rf"\b{re.escape(k)}\b" for k in kinds if _is_latin(k) and any(f"|{k}|" in t for t in self._tags.values())
        ]
        if said:
            told = re.compile("|".join(said))
            fitting |= {n.series_id for n in candidate.names if told.search(self._synopses[n.series_id])}
        names = [n for n in candidate.names if n.series_id in fitting]
        return replace(candidate, names=names) if names else candidate

    def _katakana_opening(self, folded: str, chosen_only: bool = False) -> list[_Candidate]:
        """A katakana word used as a name (see ``_KATAKANA_AS_NAME``) that is no kind of story:
        the series whose Japanese title or alias opens with it (or, failing that, holds it); a
        piece of a title said as the one chosen (``_KATAKANA_CHOSEN``): those that hold it; a
        title's opening run of kanji said as a name (``_KANJI_AS_NAME``): those it opens."""
        out: list[_Candidate] = []
        said = [] if chosen_only else list(_KATAKANA_AS_NAME.finditer(folded))
        said += _KATAKANA_CHOSEN.finditer(folded)
        for m in said:
            word = m.group(1)
            if word in _GLOSSARY_WORDS:
                continue
            opens = {sid for key, sid in self._cjk_titles.items() if key != word and key.startswith(word)}
            # (a word of three or more said as a name may end the title: 「アビス自体」 of メイドインアビス)
            holds = {sid for key, sid in self._cjk_titles.items() if key != word and word in key}
            series = sorted(opens or (holds if len(word) >= 3 else set()))
            if series:
                names = [Name(sid, "partial", self.series_titles[sid]) for sid in series[:MAX_FRAGMENT_SERIES]]
                out.append(_Candidate(names, m.start(1), m.end(1), False))
        for m in () if chosen_only else _KANJI_AS_NAME.finditer(folded):
            word = m.group(1)
            # (the whole opening run: 「不滅」 of 不滅のあなたへ, never 「東」 of 東京喰種 nor a kind of story)
            series = sorted(
                {sid for key, sid in self._cjk_titles.items() if (k := _KANJI_RUN.match(key)) and k.group() == word}
            )
            if series and word not in _GLOSSARY_WORDS:
                names = [Name(sid, "partial", self.series_titles[sid]) for sid in series[:MAX_FRAGMENT_SERIES]]
                out.append(_Candidate(names, m.start(1), m.end(1), False))
        return out

    def _quoted_word(self, text: str, folded: str) -> list[_Candidate]:
        """A lone quoted word that names no series but is a word of several titles ("just says
        'Hikaru'"): those titles, as pieces of a forgotten name."""
        quoted = _QUOTED_WORD.search(text)
        if quoted is None:
            return []
        word = fold(quoted.group(1))
        series = sorted(self._every_title_word.get(latin_key(word), ()))
        start = folded.find(word)
        if not series or start < 0:
            return []
        names = [Name(sid, "partial", self.series_titles[sid]) for sid in series[:MAX_FRAGMENT_SERIES]]
        return [_Candidate(names, start, start + len(word), False)]

    def _fragments(self, folded: str, match: re.Match[str]) -> list[_Candidate]:
        """A piece of a title the customer remembers (see ``_FRAGMENT``): every series whose
        title, romaji or alias has that word (Latin, or kana through its reading) or holds that
        run of Japanese characters. A Japanese piece caught with words before it (「あのアオ」)
        is tried from the shortest tail that still names a series."""
        group = _group_of(match)
        piece, start, end = match.group(group).replace(" ", ""), match.start(group), match.end(group)
        series: list[str] = []
        words = match.group(group).split()
        if len(words) > 1 and _is_latin(piece):
            # "carry ao no (something)": the longest run of its last words that is a run of words
            # of some titles ("ao no" of Ao no Hako and Ao no Exorcist).
            for cut in range(len(words)):
                phrase = " " + " ".join(words[cut:]) + " "
                series = sorted(sid for sid, names in self._latin_names.items() if any(phrase in n for n in names))
                if series:
                    start += len(" ".join(words[:cut])) + (1 if cut else 0)
                    break
        elif _is_latin(piece) and len(latin_key(piece)) == 2:
            # 「Dr.なんとか」: a two-letter word, too short for the word index, read off the titles.
            series = sorted(
                sid for sid, title in self.series_titles.items() if latin_key(piece) in _LATIN.findall(fold(title))
            )
        elif _is_latin(piece):
            series = sorted(self._every_title_word.get(latin_key(piece), ()))
        else:
            quoted_whole = group == _QUOTED_AS_MANGA and not _SOMETHING.search(piece)
            if group == _QUOTED_AS_MANGA:
                # (the whole name as quoted, not its tail: 「ホラー」 is no piece of セーラームーン;
                # 「ブルーなんとか」って漫画 is a piece quoted)
                piece = _SOMETHING.sub("", piece.strip("「」『』\"'“”"))
                end = start + len(piece)
            cuts = 1 if quoted_whole else max(1, len(piece) - MIN_FRAGMENT_CJK + 1)
            for cut in range(cuts):
                tail = piece[cut:]
                found = {sid for key, sid in self._cjk_titles.items() if tail in key}
                reading = romaji(tail)
                # (a name quoted as a manga's, 「『ヒカル』って漫画」, is looked for as written only:
                # its reading alone finds too many titles)
                if not quoted_whole and _is_latin(reading) and len(reading) >= MIN_LATIN:
                    found |= self._every_title_word.get(latin_key(reading), set())
                if found:
                    series, start = sorted(found), start + cut
                    break
        if not series:
            return []
        names = [Name(sid, "partial", self.series_titles[sid]) for sid in series[:MAX_FRAGMENT_SERIES]]
        return [_Candidate(names, start, end, False)]

    def _exact(
        self, folded: str, original: str, words: list[tuple[str, int, int]], windows: list[tuple[int, int, str, str]]
    ) -> list[_Candidate]:
        out: list[_Candidate] = []
        guarded: list[_Candidate] = []  # short plain-word names held back ("real", "one")
        whole = len(words)
        for i, j, joined, key in windows:
            names = self.latin.get(key)
            if names and j > i:
                # A one-word name is not spelt across words: "oh no" is no "Oono".
                names = [n for n in names if not (n.kind == "author" and " " not in n.name.strip())]
            if names:
                start, end = words[i][1], words[j][2]
                if (
                    j > i
                    and all(words[k][0] in _FUNCTION_WORDS for k in range(i, j + 1))
                    and not self._phrase_as_name(words, i, j, folded, original, start, end)
                ):
                    continue
                if j == i and len(joined) <= SHORT_WORD and joined.isalpha():
                    # Only a title can be an ordinary word ("Real", "Orange"); abbreviations
                    # ("jjk", "mha") are not.
                    kept = [n for n in names if n.kind in ("alias", "character")] or (
                        names if self._plain_word_ok(words, i, whole, folded, original, start, end) else []
                    )
                    after_cue = _after_author_cue(words, i)  # "by oda"
                    if (
                        kept
                        and len(joined) <= 3
                        and not after_cue
                        and all(n.kind == "author" for n in kept)
                        and (not self._written_as_name(folded, original, start, end))
                    ):
                        kept = []  # "the japanese one" names no author ONE
                    if not kept:
                        guarded.append(_Candidate(names, start, end, False, 1))
                        continue
                    names = kept
                out.append(_Candidate(names, start, end, False, j - i + 1))
        for run in re.finditer(r"[^a-z]+", folded):
            # Spaces inside Japanese text are decorations (「マーマレード・ボーイ」): matched without them.
            at = [run.start() + i for i, ch in enumerate(run.group()) if ch != " "]
            s = run.group().replace(" ", "")
            for i, ch in enumerate(s):
                for key in self._cjk_by_first.get(ch, ()):
                    if (
                        s.startswith(key, i)
                        and not (
                            # (「モンスター系」「モンスター料理」: the word, in a kind or a compound, not the title)
                            key in _GLOSSARY_WORDS
                            and (_KIND_SUFFIX.match(s, i + len(key)) or _COMPOUND.match(s, i + len(key)))
                        )
                        and not _inside_hiragana_word(s, i, key)
                    ):
                        # (a title that is also a kind of story, used as one: 「日常系」 is no 『日常』)
                        out.append(_Candidate(self.cjk[key], at[i], at[i + len(key) - 1] + 1, False))
            if s:
                self._kana_reading(s, at[0], out)
        at = [i for i, ch in enumerate(folded) if ch != " "]
        compact = folded.replace(" ", "")
        for key, names in self.mixed.items():
            i = compact.find(key)
            if i >= 0:
                out.append(_Candidate(names, at[i], at[i + len(key) - 1] + 1, False))
        # A held-back short name is a title after all when the message also names its author
        # ("real by inoue").
        by_author = {sid for c in out for n in c.names if n.kind == "author" for sid in n.author_series}
        out += [c for c in guarded if any(n.series_id in by_author for n in c.names)]
        # ...or when it stands beside another title, compared or listed ("naruto or bleach").
        out += [
            c
            for c in guarded
            if not any(n.series_id in by_author for n in c.names)
            and any(
                _LISTED.fullmatch(folded[min(c.end, o.end) : max(c.start, o.start)])
                for o in out
                if o.names[0].kind != "author"
            )
        ]
        return out

    def _kana_reading(self, run: str, base: int, out: list[_Candidate]) -> None:
        """Kana spellings of Latin-letter titles (ブルーロック → "burrokku" ≈ "bluelock" is not
        reachable this way, but ダンダダン → "dandadan" and ナルト → "naruto" are). Katakana only:
        hiragana runs on into the grammar around them (「長すぎ😂 もっと」 reads "sugimoto")."""
        for m in re.finditer(r"[\u30a1-\u30ffー]+", run):
            if m.group() in self.cjk:
                continue  # (a Japanese name as written: matched, or guarded, as such)
            reading = latin_key(romaji(m.group()))
            if len(reading) < MIN_KANA_ROMAJI:
                continue
            names = self.latin.get(reading)
            if names:
                out.append(_Candidate(names, base + m.start(), base + m.end(), False))

    @staticmethod
    def _plain_word_ok(
        words: list[tuple[str, int, int]], i: int, whole: int, folded: str, original: str, start: int, end: int
    ) -> bool:
        """Whether a short one-word name is meant as a title, not as an ordinary word."""
        if whole == 1 and len(folded.replace(" ", "")) <= end - start + 4:
            return True  # the message is (almost) just the name: "Real", "nana?"
        if (whole == 2 and i == 1 and words[0][0] in _OPENERS) or (
            whole == 3 and i == 2 and words[1][0] in _OPENERS and words[0][0] in _LEAD_INS
        ):
            return True  # the same question of another: "and bleach?", "also monster", "ok and gyo"
        if i == 0 and whole > 1 and words[1][0] in ("too", "also"):
            return True  # "tomie too, how much in english"
        if (
            (i == 0 or words[i - 1][0] in _OPENERS | _LEAD_INS | {"with"})
            and i + 1 < whole
            and words[i + 1][0] == "then"
        ):
            return True  # "ok bleach then, english vol 1", "go with nana then": the one chosen
        if (i == 0 or (i == 1 and words[0][0] in _OPENERS | _LEAD_INS)) and re.match(
            r"\W{0,3}(?:\w+\W{1,3})?"
            + re.escape(folded[start:end])
            + r"\s?(?:in (?:english|japanese)\s?)?(?:[,:?\-—]|sounds\b|looks\b|seems\b)",
            original,
            re.I,
        ):
            return True  # "erased, how many volumes?", "and sunny, how many?", "erased sounds good"
        if i > 0 and words[i - 1][0] in _READ_VERBS:
            return True  # "i loved erased", "just finished real"
        if i == whole - 1 and i > 0 and words[i - 1][0] in _ASKED_BEFORE - {"for"}:
            return True  # "do you have nana?", "nvm. do you sell nana": a name asked for last
        if 0 < i < whole - 1 and words[i - 1][0] in ("is", "was") and words[i + 1][0] in _ASKED_AFTER:
            return True  # "is gyo any good", "is real finished"
        neighbours = {words[k][0] for k in (i - 1, i + 1) if 0 <= k < whole}
        if neighbours & _SHOP_NEIGHBOURS or re.match(r"\s?(?:の|って|は|も|を|が|巻|vol)", folded[end : end + 4]):
            return True  # "ajin の最新刊", 「nana って」, "pluto も": a name in a Japanese sentence
        if _after_author_cue(words, i):
            return True  # "by Oda", "from Inoue": a name
        word = folded[start:end]
        # Bounded on ASCII only: 「ONEの漫画」 capitalises ONE although の is a word character.
        return any(
            re.search(r"(?<![A-Za-z0-9])" + re.escape(form) + r"(?![A-Za-z0-9])", original)
            for form in (word[:1].upper() + word[1:], word.upper())
        )

    @staticmethod
    def _phrase_as_name(
        words: list[tuple[str, int, int]], i: int, j: int, folded: str, original: str, start: int, end: int
    ) -> bool:
        """Whether a name made of function words ("all out") is meant as the name: written as one
        ("All Out"), asked for ("do you have all out"), said before a Japanese particle, or alone."""
        if len(folded.replace(" ", "")) <= end - start + 4:
            return True
        if (i > 0 and words[i - 1][0] in _ASKED_BEFORE) or re.match(
            r"\s?(?:の|って|は|も|を|が|!)", folded[end : end + 3]
        ):
            return True
        typed = re.search(
            r"(?<![A-Za-z0-9])" + r"\W+".join(re.escape(w) for w, _, _ in words[i : j + 1]), original, re.I
        )
        return typed is not None and all(part[:1].isupper() for part in re.findall(r"[A-Za-z]+", typed.group()))

    @staticmethod
    def _written_as_name(folded: str, original: str, start: int, end: int) -> bool:
        """Whether a plain word is written as a name in the message ("ONE", "One")."""
        word = folded[start:end]
        return any(
            re.search(r"(?<![A-Za-z0-9])" + re.escape(form) + r"(?![A-Za-z0-9])", original)
            for form in (word[:1].upper() + word[1:], word.upper())
        )

    def _fuzzy(
        self, tails: frozenset[int], words: list[tuple[str, int, int]], windows: list[tuple[int, int, str, str]]
    ) -> list[_Candidate]:
        """Latin windows within one edit (typo, missing letter, swapped letters) of a name
        (``tails``: where the words that end a contraction start: "that's" → "s")."""
        out: list[_Candidate] = []
        for i, j, _, key in windows:
            whole = i == 0 and j == len(words) - 1
            # A short name forgives a typo only as the whole message ("Nruto").
            if len(key) < (MIN_FUZZY_WHOLE if whole else MIN_FUZZY) or key in self.latin or key in self._story_words:
                continue
            if 2 * sum(words[w][0] in _LITTLE_WORDS for w in range(i, j + 1)) > j - i + 1:
                continue  # mostly little words ("as a girl" is no misspelt "Asagiri")
            if j > i and (words[j][0] in _JOINERS or words[i][0] in _JOINERS):
                continue  # "k-on and nana": a window ending on the word that lists two names
            if words[i][1] in tails:
                continue  # "that's funny": a contraction's tail starts no name ("s funny" is no "Sunny")
            if (
                j > i
                and len(key) < MIN_FUZZY_ACROSS_PARTICLE
                and any(words[w][0] in _PARTICLES for w in range(i, j + 1))
            ):
                continue  # "kanketsu shiteru no dake": a romaji particle and a word are no misspelt "nodame"
            # One edit leaves a name's first two or last two letters as they were (but for a
            # swap across them): only names sharing an end are compared.
            edits = 2 if len(key) >= TWO_EDITS else 1  # "the apothecary diarys"
            pool = {
                k
                for size in range(len(key) - edits, len(key) + edits + 1)
                for k in (*self._by_head.get((size, key[:2]), ()), *self._by_tail.get((size, key[-2:]), ()))
            }
            digits = any(ch.isdigit() for ch in key)
            for name_key in pool:
                if digits != any(ch.isdigit() for ch in name_key):
                    continue  # "and 5" is no misspelt "Ando"
                distance = OSA.distance(key, name_key, score_cutoff=edits)
                if distance > edits:
                    continue
                # A person's name forgives one edit only, never in its first letter: "Chiikawa"
                # (a title) is no misspelt Ichikawa or Hikawa.
                names = [
                    n
                    for n in self.latin[name_key]
                    if n.kind != "character" and (n.kind != "author" or (distance < 2 and key[0] == name_key[0]))
                ]
                if names:
                    out.append(_Candidate(names, words[i][1], words[j][2], True, j - i + 1))
        return out

    def _partial(self, folded: str) -> list[_Candidate]:
        """A distinctive English title word used as a name (see ``MAX_PARTIAL_SERIES``)."""
        words = [(m.group(), m.start(), m.end()) for m in _LATIN.finditer(folded)]
        out: list[_Candidate] = []
        for i, (word, start, end) in enumerate(words):
            series = self._title_words.get(latin_key(word))
            if not series or len(series) > MAX_PARTIAL_SERIES:
                continue
            after = words[i + 1][0] if i + 1 < len(words) else ""
            before = words[i - 1][0] if i else ""
            # ("do you have hikaru": a Japanese word asked for last is a name, "do you have
            # black" is not)
            asked_last = i + 1 == len(words) and before in _ASKED_BEFORE and shared_text.is_romaji(latin_key(word))
            # ("do you have the Hikaru manga?")
            # (not a kind of story: "other samurai manga?" asks for samurai stories)
            # ("tokyo manga vol 1": a volume of it asked for)
            volume_next = i + 2 < len(words) and words[i + 2][0] in ("vol", "volume")
            named_manga = (
                after == "manga"
                and (shared_text.is_romaji(latin_key(word)) or before in ("the", "that") or volume_next)
                and (latin_key(word) not in self._story_words or before in ("the", "that") or volume_next)
            )
            # ("the samurai one": a kind of story describes which one; "the Monster one" names it)
            # ("do you have the tokyo one": asked for as a title, a word of titles names them)
            asked_as_title = before in ("the", "that") and i > 1 and words[i - 2][0] in _ASKED_BEFORE
            kind_one = after == "one" and latin_key(word) in self._story_words and not asked_as_title
            if (
                len(words) == 1
                or (after in _NAME_AFTER and not kind_one)
                or "巻" in folded[end : end + 6]
                or asked_last
                or named_manga
            ):
                names = [Name(sid, "partial", word) for sid in sorted(series)]
                out.append(_Candidate(names, start, end, False))
        return out

    def _fuzzy_cjk(self, folded: str) -> list[_Candidate]:
        """Japanese names within one edit (鋼の錬金術士 for 鋼の錬金術師): names sharing most of
        their character bigrams with the message, checked with the edit distance."""
        out: list[_Candidate] = []
        # A genre word is no misspelt title (ラブコメ is one edit from ラブ★コン).
        genre_words = [(at, at + len(word)) for word in _CJK_GLOSSARY for at in _find_all(folded, word)]
        for run in re.finditer(r"[^a-z0-9]+", folded):
            at = [run.start() + i for i, ch in enumerate(run.group()) if ch != " "]
            s = run.group().replace(" ", "")
            if len(s) < 3:
                continue
            grams = {s[i : i + 2] for i in range(len(s) - 1)}
            counts: dict[str, int] = defaultdict(int)
            for g in grams:
                for key in self._cjk_bigrams.get(g, ()):
                    counts[key] += 1
            for key, shared in counts.items():
                if shared < len(key) - 3:  # one edit breaks at most two of a name's bigrams
                    continue
                best = None
                for size in (len(key) - 1, len(key), len(key) + 1):
                    for i in range(0, len(s) - size + 1):
                        # The first character stays as it was: a different first kana is a
                        # different word (アンパンマン is no ワンパンマン).
                        if s[i] == key[0] and OSA.distance(s[i : i + size], key, score_cutoff=1) <= 1:
                            best = (i, size)
                            break
                    if best:
                        break
                if best:
                    start, end = at[best[0]], at[best[0] + best[1] - 1] + 1
                    if not any(s < end and start < e for s, e in genre_words):
                        out.append(_Candidate(self.cjk[key], start, end, True))
        return out

    def _resolve(self, candidates: list[_Candidate]) -> list[Link]:
        """Longest, exact, best-kind matches first; overlapping weaker matches dropped."""
        scored: list[tuple[float, int, int, _Candidate, Name]] = []
        # A misspelt window that only pads a name spelt right with a stray letter ("Your Lie in
        # April, K-On!" is no longer a title than "Your Lie in April"); a longer misspelt title
        # around a short exact name of it still wins ("Wotakoi: Love Is Hard for Oeaku").
        exact = [(c.start, c.end, {n.series_id for n in c.names}) for c in candidates if not c.fuzzy]
        candidates = [
            c
            for c in candidates
            if not c.fuzzy
            or not any(
                c.start <= s
                and e <= c.end
                and (c.end - c.start) - (e - s) <= MAX_PADDING
                and ids & {n.series_id for n in c.names}
                for s, e, ids in exact
            )
        ]
        for c in candidates:
            for n in c.names:
                score = KIND_WEIGHT[n.kind] - (FUZZY_PENALTY if c.fuzzy else 0.0)
                scored.append((score, c.end - c.start, c.start, c, n))
        scored.sort(key=lambda t: (-t[1], -t[0], t[2], t[4].series_id))
        taken: list[tuple[int, int]] = []
        best: dict[str, Link] = {}
        for score, _, _, c, n in scored:
            if any(c.start < e and s < c.end for s, e in taken if (s, e) != (c.start, c.end)):
                continue
            taken.append((c.start, c.end))
            kept = best.get(n.series_id)
            if kept is None or score > kept.score:
                best[n.series_id] = Link(
                    n.series_id,
                    n.kind,
                    n.name,
                    round(score, 3),
                    c.start,
                    c.end,
                    c.fuzzy,
                    n.author_series,
                    n.relative_to,
                )
        return sorted(
            best.values(), key=lambda link: (-link.score, -(link.end - link.start), link.start, link.series_id)
        )
