"""Normalised text, filter signature and entry ids: what makes two requests "the same"."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping

import orjson

# Trailing punctuation and politeness that do not change the question.
# The lookbehind starts a match only where a run of these starts: the same match, in linear time.
_TRAILING = re.compile(r"(?<![\s?!.。、,？！…])[\s?!.。、,？！…]+$")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "「": " ", "」": " ", "『": " ", "』": " "})


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower case, one space, no trailing punctuation."""
    out = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
    out = " ".join(out.split())  # str.split() and re's \s agree on what whitespace is
    return _TRAILING.sub("", out)


def filter_signature(filters: Mapping[str, object]) -> str:
    """A short stable hash of the effective filters (``None`` = absent); ``"none"`` when empty."""
    present = {str(k): v for k, v in filters.items() if v is not None}
    if not present:
        return "none"
    blob = orjson.dumps(present, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


def entry_id(normalised_text: str, language: str, fsig: str) -> str:
    """The id of the entry for this exact normalised text, language and filters."""
    blob = "\x1f".join((language, fsig, normalised_text)).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
