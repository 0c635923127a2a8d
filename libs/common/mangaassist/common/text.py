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

import unicodedata


def fold(text: str) -> str:
    """NFKC and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def normalise(text: str) -> str:
    """``fold``, whitespace runs as one space, no leading or trailing space."""
    return " ".join(fold(text).split())  # str.split() and re's \s agree on what whitespace is
