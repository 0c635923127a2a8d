"""Language detection good enough to pick the answer language: Japanese script or not."""

from __future__ import annotations

import re

_JA = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def detect_language(text: str) -> str:
    """``"ja"`` when the text contains any kana or kanji, else ``"en"``."""
    return "ja" if _JA.search(text) else "en"
