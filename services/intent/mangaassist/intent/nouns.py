"""Whether a Japanese word is an ordinary noun (動物, 猫, ゾンビ) rather than a name.

「動物の漫画ある？」 asks for manga about animals and 「ハリーポッターの漫画ある？」 for a title:
the two messages have one shape, only the word tells them apart. SudachiPy's core dictionary
knows the ordinary nouns of Japanese (its part of speech 普通名詞); a word it splits, does not
know, or knows as a proper noun is taken for a name. One word only: 「宇宙兄弟」 (two ordinary
nouns) is a title. Our own code around the kept library: the library gives parts of speech,
the rule of which ones make a kind of story is ours.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

MAX_WORD_CHARS = 20  # a longer "word" is no single noun; never tokenised
_local = threading.local()


def _tokenizer() -> Any:
    """One tokenizer per thread (Sudachi's is not thread-safe), built on first use (~80 ms)."""
    tok = getattr(_local, "tok", None)
    if tok is None:
        # The dictionary is data sudachipy opens by name; importing its package here also puts
        # it in the intent image (deploy/tools/service_requirements.py follows imports).
        import sudachidict_core  # type: ignore[import-untyped]  # noqa: F401
        from sudachipy import Dictionary, SplitMode  # type: ignore[import-untyped]

        tok = _local.tok = Dictionary(dict="core").tokenizer(mode=SplitMode.C)
    return tok


@lru_cache(maxsize=4096)
def is_common_noun(word: str) -> bool:
    """Whether ``word`` is one ordinary Japanese noun (not a name)."""
    word = word.strip()
    if not word or len(word) > MAX_WORD_CHARS:
        return False
    morphemes = [m for m in _tokenizer().tokenize(word) if m.surface().strip()]
    return len(morphemes) == 1 and tuple(morphemes[0].part_of_speech()[:2]) == ("名詞", "普通名詞")
