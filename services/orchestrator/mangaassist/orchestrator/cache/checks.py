"""Which check decides whether a cached question's answer may serve a near neighbour.

The semantic tier finds the nearest cached question by embedding; a *check* then compares
the two messages' signatures and refuses when they could need different answers. Checks
are named so the choice is one setting (``CacheConfig.check``) and measurable side by side
(``bench/cache_eval``): ``"lexicon"`` is the word-list guard of ``guards``. A stored
signature carries its check's name; a signature of another check never agrees, so entries
written before a switch are not trusted by the new check.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

from mangaassist.orchestrator.cache.guards import Signature, signature


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
    """The word-list guard (``guards.signature``): polarity, numbers, concepts, entities all equal."""

    name = "lexicon"

    def signature(self, text: str) -> Signature:
        return signature(text)

    def from_json(self, data: dict[str, Any]) -> Signature:
        return Signature.from_json(data)


_NAMES = ("lexicon", "align", "align_strict")


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
