"""Local guardrails: a fast input check before the model and an output check after it.

Input: prompt-injection phrases (English and Japanese) and PII (emails, Japanese and
international phone numbers, card numbers that pass the Luhn check) — PII is masked
before the text is logged or sent anywhere. Output: the same PII rules plus a leak of
the system prompt. Pure regular expressions, compiled once: well under a millisecond for
a 1,000-character answer (see ``bench/inference.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mangaassist.inference.prompt import SYSTEM_PROMPT

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Cards: 13-19 digits, optionally in groups separated by one space or dash.
_CARD = re.compile(r"(?<![\d-])(?:\d{4}[ -]?){3}\d{1,7}(?![\d-])|(?<![\d-])\d{13,19}(?![\d-])")
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+-])(?:"
    r"\+\d{1,3}[ -]?\(?\d{1,4}\)?(?:[ -]?\d{2,4}){2,3}"  # international: +81 90-1234-5678, +1 (415) 555-0100
    r"|0\d{1,4}-\d{1,4}-\d{3,4}"  # Japanese with dashes: 03-1234-5678, 090-1234-5678, 0120-123-456
    r"|0[5789]0\d{8}|0\d{9}"  # Japanese without: 09012345678 (mobile/IP), 0312345678 (landline)
    r")(?![0-9A-Za-z-])"
)
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


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass
class Verdict:
    """What a check found: masked text plus the categories that fired."""

    text: str
    pii: list[str] = field(default_factory=list)  # "email", "phone", "card"
    injection: bool = False
    leak: bool = False

    @property
    def categories(self) -> list[str]:
        return [*(f"pii:{kind}" for kind in self.pii), *(["prompt_injection"] if self.injection else []),
                *(["prompt_leak"] if self.leak else [])]


def mask_pii(text: str) -> tuple[str, list[str]]:
    """Replace emails, card numbers and phone numbers with placeholders."""
    found: list[str] = []

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found.append("card")
            return "[card]"
        return m.group(0)

    def tag(kind: str) -> Callable[[re.Match[str]], str]:
        def sub(_: re.Match[str]) -> str:
            found.append(kind)
            return f"[{kind}]"
        return sub

    if "@" in text:
        text = _EMAIL.sub(tag("email"), text)
    if any(c.isdigit() for c in text):
        text = _CARD.sub(card, text)
        text = _PHONE.sub(tag("phone"), text)
    return text, sorted(set(found))


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
