"""CPU-cost checks for tests on hostile text, without a stopwatch bound.

A fixed millisecond bound fails on a loaded CI machine (a linear 13 ms scan measured 23 ms
under CI load against a 20 ms bound). The tests instead compare a worst input with ordinary
customer text of the same length, both timed in the same test as CPU time of the calling
thread (best of ``runs``): load slows both alike, while the quadratic paths these tests guard
against cost 100x or more of the ordinary message.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterable

# Ordinary customer text in both languages, the linear cost every message pays.
ORDINARY_UNITS = (
    "Do you have One Piece volume 3 in English? under 800 yen, not horror ",
    "ワンピースの3巻は英語版ありますか？1000円以下で、ホラー以外 ",
)


def cpu_ms(fn: Callable[[str], object], text: str, runs: int = 5) -> float:
    """Best-of-``runs`` CPU time of this thread for ``fn(text)``, in milliseconds."""
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        fn(text)
        best = min(best, time.thread_time() - started)
    return best * 1000


def ordinary_text(length: int, units: Iterable[str] = ORDINARY_UNITS) -> list[str]:
    """Ordinary messages of ``length`` characters, one per unit."""
    return [(unit * (length // len(unit) + 1))[:length] for unit in units]


def cost_ratio(fn: Callable[[str], object], worst: str, runs: int = 5) -> tuple[float, float]:
    """(CPU ms of ``fn`` on ``worst``, CPU ms on the dearest ordinary message of its length).

    The length is taken after NFKC, which every service applies first: a character that NFKC
    turns into 18 is 18 characters of work, linear or not.
    """
    length = max(len(unicodedata.normalize("NFKC", worst)), 1)
    ordinary = max(cpu_ms(fn, text, runs) for text in ordinary_text(length))
    return cpu_ms(fn, worst, runs), ordinary


def assert_no_worse_than_ordinary(
    fn: Callable[[str], object], worst: str, ratio: float = 10, slack_ms: float = 1, runs: int = 5
) -> None:
    """``fn`` costs at most ``ratio`` x an ordinary message of the same length (+ ``slack_ms``)."""
    spent, ordinary = cost_ratio(fn, worst, runs)
    assert spent < ratio * ordinary + slack_ms, (worst[:20], round(spent, 2), round(ordinary, 2))
