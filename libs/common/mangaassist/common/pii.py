"""PII masking: one function for every place customer text goes (the model's prompt, the
sessions table, the semantic cache's keys).

E-mail addresses, Japanese and international phone numbers, and card numbers that pass the
Luhn check become ``[email]``, ``[phone]`` and ``[card]``. Order numbers stay: the customer
needs them answered, and they are shown to their owner only.

Customers type digits and signs in full width (``０９０－１２３４－５６７８``, ``＠``) and dash
phone numbers with the long-vowel mark (``090ー1234ー5678``). The patterns run over a
*view* of the text in which those characters are mapped one for one to ASCII, so every
match lines up with the original and the rest of the text is stored as written.

Pure regular expressions, compiled once, every quantifier bounded (no backtracking blow-up
on hostile input, see ``textbounds``); hand-written rather than a library such as Presidio
because the rules are few, must cover Japanese number forms, and must cost well under a
millisecond per message on the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Full-width ASCII (U+FF01..U+FF5E) → ASCII; dashes people put in phone numbers → '-';
# the ideographic space → ' '. One character for one, so spans line up.
_VIEW = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_VIEW.update({ord(c): ord("-") for c in "ー‐‑‒–—―−ｰ"})
_VIEW[0x3000] = ord(" ")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}")
# Cards: 13-19 digits, optionally in groups separated by one space or dash.
_CARD = re.compile(r"(?<![\d-])(?:\d{4}[ -]?){3}\d{1,7}(?![\d-])|(?<![\d-])\d{13,19}(?![\d-])")
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+-])(?:"
    r"\+\d{1,3}[ -]?\(?\d{1,4}\)?(?:[ -]?\d{2,4}){2,3}"  # international: +81 90-1234-5678, +1 (415) 555-0100
    r"|0\d{1,4}-\d{1,4}-\d{3,4}"  # Japanese with dashes: 03-1234-5678, 090-1234-5678, 0120-123-456
    r"|0[5789]0\d{8}|0\d{9}"  # Japanese without: 09012345678 (mobile/IP), 0312345678 (landline)
    r")(?![0-9A-Za-z-])"
)


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _replace(text: str, view: str, pattern: re.Pattern[str], decide: Callable[[str], str | None]) -> tuple[str, str]:
    """Replace each match of ``pattern`` in ``view`` for which ``decide`` names a kind, in
    both the text and its view (so later patterns see the placeholders)."""
    out, view_out, last = [], [], 0
    for m in pattern.finditer(view):
        kind = decide(m.group(0))
        if kind is None:
            continue
        out.append(text[last : m.start()])
        view_out.append(view[last : m.start()])
        out.append(f"[{kind}]")
        view_out.append(f"[{kind}]")
        last = m.end()
    if last == 0:
        return text, view
    out.append(text[last:])
    view_out.append(view[last:])
    return "".join(out), "".join(view_out)


def mask_pii(text: str) -> tuple[str, list[str]]:
    """``text`` with e-mail addresses, card numbers and phone numbers replaced by
    placeholders, and the kinds found (sorted, once each)."""
    found: set[str] = set()
    view = text.translate(_VIEW)

    def kind(name: str) -> Callable[[str], str | None]:
        def decide(_: str) -> str:
            found.add(name)
            return name

        return decide

    def card(match: str) -> str | None:
        digits = re.sub(r"\D", "", match)
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            found.add("card")
            return "card"
        return None

    if "@" in view:
        text, view = _replace(text, view, _EMAIL, kind("email"))
    if any(c.isdigit() for c in view):
        text, view = _replace(text, view, _CARD, card)
        text, view = _replace(text, view, _PHONE, kind("phone"))
    return text, sorted(found)
