"""The one text normaliser: how every service folds a customer's message before comparing it.

- ``fold``: Unicode NFKC (full-width → half-width, ｶﾅ → カナ, ① → 1) and lower case — what
  makes "ＯＮＥ ＰＩＥＣＥ" and "one piece" the same characters;
- ``normalise``: ``fold`` with every run of whitespace as one space, trimmed — the form two
  messages are compared in (query caches, cache keys).

Modules that need more (no spaces at all for a title lookup, lexicon tags for the intent
model, no trailing punctuation for a cache key) build on these and say so in their names.
Regexes over untrusted text take ``textbounds.bounded_fold`` instead, which also bounds length.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


def fold(text: str) -> str:
    """NFKC and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def normalise(text: str) -> str:
    """``fold``, whitespace runs as one space, no leading or trailing space."""
    return " ".join(fold(text).split())  # str.split() and re's \s agree on what whitespace is


_NON_WORD = re.compile(r"[^\w]+|_")


def words(folded: str) -> str:
    """Punctuation and symbol runs as one space, trimmed: the form the catalog linker matches
    names in (its mention spans count characters of this form)."""
    return " ".join(_NON_WORD.sub(" ", folded).split())


@lru_cache(maxsize=256)  # one message is asked about once per mention
def words_offsets(folded: str) -> tuple[int, ...]:
    """For each character of ``words(folded)``, its index in ``folded``: maps a linker span
    back onto the text it was found in ("i've read haikyu" loses its apostrophe)."""
    out: list[int] = []
    gap = -1  # index of the first character of a pending run of non-word characters
    for i, ch in enumerate(folded):
        if _NON_WORD.fullmatch(ch) is None:
            if gap >= 0 and out:
                out.append(gap)
            gap = -1
            out.append(i)
        elif gap < 0:
            gap = i
    return tuple(out)


# A word spelt as Japanese in romaji ("boruto", "hikaru", "kenichi"): syllables of an optional
# consonant (or ch/sh/ts, a doubled consonant, a y-glide) and a vowel, and the syllabic n; five
# letters at least (shorter ones are as often English: "more", "none").
ROMAJI_WORD = (
    r"(?=[a-z]{5,20}\b)(?:(?:ch|sh|ts|[kgszjtdnhbpmyrwf])?y?[aeiou]|n(?![aeiouy])|[kgstdpbmc](?=[kgstdpbmc]))+"
)
_ROMAJI_WHOLE = re.compile(rf"{ROMAJI_WORD}$")


def is_romaji(word: str) -> bool:
    """Whether a lower-case Latin word is spelt like Japanese in romaji (see ``ROMAJI_WORD``)."""
    return _ROMAJI_WHOLE.match(word) is not None
