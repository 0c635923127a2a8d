"""Local guardrails: a fast input check before the model and an output check after it.

Input: prompt-injection phrases (English and Japanese) and PII (emails, Japanese and
international phone numbers, card numbers that pass the Luhn check; the one masking
function in ``mangaassist.common.pii``, which the orchestrator also applies before it
stores a turn) — PII is masked before the text is logged or sent anywhere. Output: the same PII rules plus a leak of
the system prompt. Pure regular expressions, compiled once: well under a millisecond for
a 1,000-character answer (see ``bench/inference.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mangaassist.common.pii import luhn_ok, mask_pii
from mangaassist.inference.prompt import SYSTEM_PROMPT

__all__ = ["REFUSAL", "WITHHELD", "Verdict", "check_input", "check_output", "luhn_ok", "mask_pii"]

_INJECTION = [
    re.compile(p, re.I)
    for p in (
        r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|your|the)\b"
        r"[^.\n]{0,20}\b(instructions?|rules|prompts?|directions)\b",
        r"\b(reveal|show|print|repeat|leak)\b[^.\n]{0,30}\b(system prompt|instructions|hidden prompt)\b",
        r"\byou are now\b|\bpretend (to be|you are)\b|\bjailbreak\b|\bdeveloper mode\b|\bDAN\b",
        r"(前|以前|これまで|上記)の(指示|命令|ルール|プロンプト)を(無視|忘れ)",
        r"システムプロンプト|隠された(指示|命令)|制限を(解除|無視)",
    )
]
_LEAK = SYSTEM_PROMPT[:60].lower()


@dataclass
class Verdict:
    """What a check found: masked text plus the categories that fired."""

    text: str
    pii: list[str] = field(default_factory=list)  # "email", "phone", "card"
    injection: bool = False
    leak: bool = False

    @property
    def categories(self) -> list[str]:
        return [
            *(f"pii:{kind}" for kind in self.pii),
            *(["prompt_injection"] if self.injection else []),
            *(["prompt_leak"] if self.leak else []),
        ]


def check_input(text: str) -> Verdict:
    """Mask PII and detect prompt-injection phrases in a customer's message."""
    masked, pii = mask_pii(text)
    return Verdict(masked, pii, injection=any(p.search(masked) for p in _INJECTION))


def check_output(text: str) -> Verdict:
    """PII in the answer, or the system prompt echoed back."""
    masked, pii = mask_pii(text)
    return Verdict(masked, pii, leak=_LEAK in text.lower())


REFUSAL = {
    "ja": "申し訳ありませんが、そのご依頼にはお応えできません。マンガや当店についてのご質問をどうぞ。",
    "en": "Sorry, I can't help with that request. Ask me about manga or our store.",
}
WITHHELD = {
    "ja": "（この回答の続きは安全確認のため表示を控えました。）",
    "en": "(The rest of this answer was withheld by a safety check.)",
}
