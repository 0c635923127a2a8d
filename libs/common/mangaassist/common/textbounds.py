"""Bounds on the text a regular expression sees, so no message costs more than linear time.

Python's ``re`` backtracks: a pattern such as ``\\d+\\s*円`` tries every start position in
a run of digits and scans the rest of the run from each one, so 4,000 digits cost 16
million steps (a 6 KB frame of 「⑳」 becomes 4,000 digits under NFKC). Every rule here
keeps what a real message means and only cuts what no message needs:

* the folded text is cut to ``MAX_SCAN_CHARS`` (NFKC can multiply a text's length by 18,
  so the cut comes after folding);
* a run of one repeated character, of digits and their separators (``,`` ``.``), or of
  whitespace is cut to its first ``MAX_RUN`` characters: no price, volume, order id or
  title is that long, and a run of 32 keeps every pattern's work per start position small.

Patterns over the result must still bound their own quantifiers (``{0,40}`` rather than
``*``) or start only where a run starts (``(?<!\\d)\\d+``); this module bounds the input,
not the patterns.
"""

from __future__ import annotations

import re
import unicodedata

MAX_SCAN_CHARS = 4_000
MAX_RUN = 32

# The two classes come first, so a cut class run is always followed by a character outside it.
_LONG_RUNS = re.compile(
    rf"[\d,.]{{{MAX_RUN + 1},}}"  # digits and separators
    rf"|\s{{{MAX_RUN + 1},}}"  # whitespace
    rf"|(.)\1{{{MAX_RUN},}}",  # one character repeated
    re.DOTALL,
)


def cut_runs(text: str) -> str:
    """``text`` with every long run (see the module doc) cut to its first ``MAX_RUN`` characters."""
    return _LONG_RUNS.sub(lambda m: m.group(0)[:MAX_RUN], text)


def bounded_fold(text: str, max_chars: int = MAX_SCAN_CHARS) -> str:
    """NFKC-folded ``text``, cut to ``max_chars`` and with its long runs cut: what regexes may see."""
    return cut_runs(unicodedata.normalize("NFKC", text[:max_chars])[:max_chars])
