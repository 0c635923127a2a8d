"""Which check decides whether a cached question's answer may serve a near neighbour.

The semantic tier finds the nearest cached question by embedding; a *check* then compares
the two messages' signatures and refuses when they could need different answers. Checks
are named so the choice is one setting (``CacheConfig.check``) and measurable side by side
(``bench/cache_eval``): ``"lexicon"`` is the word-list check of ``lexicon_check``,
``"align"`` content-word alignment (``align``), ``"lexicon+align"`` both, and ``"frame"``
(``frame``, the default since decision 0003's third round) the frame comparison. A stored
signature carries its check's name; a signature of another check never agrees, so entries
written before a switch are not trusted by the new check.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from mangaassist.orchestrator.cache.lexicon_check import Signature, signature


class CheckSignature(Protocol):
    """What a check extracts from one message."""

    def agrees(self, other: Any) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...


class Check(Protocol):
    name: str

    def signature(self, text: str) -> CheckSignature:
        """The signature of a raw message (the check normalises it)."""
        ...

    def from_json(self, data: dict[str, Any]) -> CheckSignature:
        """A stored signature back (ValueError when it is malformed)."""
        ...


class LexiconCheck:
    """The word-list guard (``lexicon_check.signature``): polarity, numbers, concepts, entities all equal."""

    name = "lexicon"

    def signature(self, text: str) -> Signature:
        return signature(text)

    def from_json(self, data: dict[str, Any]) -> Signature:
        return Signature.from_json(data)


@dataclass(frozen=True)
class BothSignature:
    """Two checks' signatures; they agree only when both agree."""

    lexicon: CheckSignature
    align: CheckSignature

    def agrees(self, other: Any) -> bool:
        return (
            isinstance(other, BothSignature) and self.lexicon.agrees(other.lexicon) and self.align.agrees(other.align)
        )

    def to_json(self) -> dict[str, Any]:
        return {"lexicon": self.lexicon.to_json(), "align": self.align.to_json()}


class BothCheck:
    """``"lexicon+align"``: the word-list guard *and* content-word alignment must both agree.

    Defence in depth: on the hand-written evaluation each check alone served some near
    misses of kinds the calibration side did not show; a wrong hit now needs both to fail.
    """

    name = "lexicon+align"

    def __init__(self) -> None:
        from mangaassist.orchestrator.cache.align import AlignCheck

        self._lexicon = LexiconCheck()
        self._align = AlignCheck()

    def signature(self, text: str) -> BothSignature:
        return BothSignature(self._lexicon.signature(text), self._align.signature(text))

    def from_json(self, data: dict[str, Any]) -> BothSignature:
        return BothSignature(self._lexicon.from_json(data["lexicon"]), self._align.from_json(data["align"]))


_NAMES = ("lexicon", "align", "align_strict", "lexicon+align", "frame")


def check_names() -> tuple[str, ...]:
    return _NAMES


@cache
def get_check(name: str) -> Check:
    """The check called ``name``; ValueError for an unknown one."""
    if name == "lexicon":
        return LexiconCheck()
    if name in ("align", "align_strict"):
        from mangaassist.orchestrator.cache.align import AlignCheck

        return AlignCheck(strict=name == "align_strict")
    if name == "lexicon+align":
        return BothCheck()
    if name == "frame":
        from mangaassist.orchestrator.cache.frame import FrameCheck

        return FrameCheck()
    raise ValueError(f"unknown cache check {name!r} (known: {', '.join(_NAMES)})")


def encode(check: Check, text: str) -> dict[str, Any]:
    """The stored form of ``text``'s signature: its check's name and the signature."""
    return {"check": check.name, **check.signature(text).to_json()}


def decode(check: Check, data: dict[str, Any]) -> CheckSignature | None:
    """A stored signature for ``check``; None when another check wrote it (it never agrees).
    Stored before checks were named, a signature is the lexicon's."""
    if data.get("check", "lexicon") != check.name:
        return None
    return check.from_json({k: v for k, v in data.items() if k != "check"})
