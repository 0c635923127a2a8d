"""Normalised text, filter and partition signatures, entry ids: what makes two requests "the same"."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import orjson

from mangaassist.common.text import normalise

# Part of every id and partition: bumped when what an entry may hold changes, so entries
# written under the old rules are never read again (2: only answers whose prompt held
# nothing customer-specific, keyed by their shop documents' version).
KEY_VERSION = "2"
# Trailing punctuation and politeness that do not change the question. The lookbehind starts a
# match only where a run of these starts: the same match, in linear time.
_TRAILING = re.compile(r"(?<![\s?!.。、,？！…])[\s?!.。、,？！…]+$")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "「": " ", "」": " ", "『": " ", "』": " "})


def key_text(text: str) -> str:
    """The question as the cache compares it: the shared ``normalise`` (NFKC, lower case, one
    space) with quotes unified and no trailing punctuation."""
    return _TRAILING.sub("", normalise(text.translate(_QUOTES)))


def filter_signature(filters: Mapping[str, object]) -> str:
    """A short stable hash of the effective filters (``None`` = absent); ``"none"`` when empty."""
    present = {str(k): v for k, v in filters.items() if v is not None}
    if not present:
        return "none"
    blob = orjson.dumps(present, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


def documents_version(documents: Sequence[str]) -> str:
    """A content hash of the shop documents an answer was built from; ``""`` when none."""
    if not documents:
        return ""
    return hashlib.sha256("\x1e".join(documents).encode()).hexdigest()[:16]


def partition_signature(filters: Mapping[str, object], documents: str, scope: str = "") -> str:
    """Which semantic partition an entry lives in, beyond language and intent: its filters,
    the version of its shop documents (an edited policy starts a fresh partition) and the
    scope the question resolved to (the series it names, the constraints it set): "いぬやしき"
    and 「犬夜叉」 embed close together but never share an answer."""
    blob = "\x1f".join((KEY_VERSION, filter_signature(filters), documents, scope)).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def entry_id(normalised_text: str, language: str, fsig: str) -> str:
    """The id of the entry for this exact normalised text, language and filters.

    A hash, so logs and spans can name the entry that served a hit without its text.
    """
    blob = "\x1f".join((KEY_VERSION, language, fsig, normalised_text)).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
