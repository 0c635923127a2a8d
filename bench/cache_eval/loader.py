"""Read the hand-written evaluation blocks (``*.txt`` beside this file, see FORMAT.md),
split them by first question, and check the rules the split promises.

    python -m bench.cache_eval.loader     # prints the counts per side, kind and language
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mangaassist.common.language import detect_language
from mangaassist.orchestrator.cache.keys import key_text

HERE = Path(__file__).resolve().parent
SEEN_KINDS = frozenset(
    {
        "negation",
        "volume",
        "price",
        "title",
        "payment_method",
        "delivery_area",
        "carrier",
        "format",
        "set_vs_single",
        "edition",
        "time",
        "quantity",
        "gift_option",
        "preorder_vs_stock",
        "genre",
        "author",
    }
)
HELD_OUT_KINDS = frozenset({"action", "condition", "currency", "device", "character", "direction", "question_language"})
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class Pair:
    id: str
    block: str  # the first question's block id: every pair of a block is on one side
    a: str  # stored first
    b: str  # looked up
    label: str  # "hit" (paraphrase) or "miss" (near miss)
    kind: str  # "paraphrase" or the near-miss kind
    split: str  # "calibrate" or "test"
    script: str  # "en", "ja" or "mixed" (the looked-up message's script)

    @property
    def held_out(self) -> bool:
        return self.kind in HELD_OUT_KINDS

    @property
    def lang_a(self) -> str:
        return detect_language(self.a)

    @property
    def lang_b(self) -> str:
        return detect_language(self.b)


def _script(text: str) -> str:
    if detect_language(text) == "en":
        return "en"
    return "mixed" if _LATIN_WORD.search(text) else "ja"


def _side(question: str, kinds: set[str], calibration_only: bool = False) -> str:
    if calibration_only:
        if kinds & HELD_OUT_KINDS:
            raise ValueError(f"a calibration-only block uses a held-out kind: {question!r}")
        return "calibrate"
    if kinds & HELD_OUT_KINDS:
        return "test"
    return "test" if hashlib.sha256(key_text(question).encode()).digest()[0] % 2 else "calibrate"


def load(directory: Path = HERE) -> list[Pair]:
    """Every pair of every block, in file order; ValueError when a rule is broken."""
    pairs: list[Pair] = []
    firsts: dict[str, str] = {}
    for path in sorted(directory.glob("*.txt")):
        blocks = [b for b in re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))]
        n = 0
        for raw in blocks:
            lines = [ln.strip() for ln in raw.splitlines() if ln.strip() and not ln.strip().startswith("#")]
            if not lines:
                continue
            if not lines[0].startswith("Q: "):
                raise ValueError(f"{path.name}: a block must start with 'Q: ': {lines[0]!r}")
            question = lines[0][3:].strip()
            block = f"{path.stem}-{n:03d}"
            n += 1
            norm = key_text(question)
            if norm in firsts:
                raise ValueError(f"{path.name}: first question repeated (also {firsts[norm]}): {question!r}")
            firsts[norm] = block
            items: list[tuple[str, str, str]] = []
            for line in lines[1:]:
                if line.startswith("= "):
                    items.append(("hit", "paraphrase", line[2:].strip()))
                elif line.startswith("~ "):
                    kind, _, text = line[2:].partition(":")
                    kind = kind.strip()
                    if kind not in SEEN_KINDS | HELD_OUT_KINDS:
                        raise ValueError(f"{path.name}: unknown kind {kind!r}")
                    items.append(("miss", kind, text.strip()))
                else:
                    raise ValueError(f"{path.name}: a line must start with '= ' or '~ ': {line!r}")
            side = _side(question, {k for _, k, _ in items}, path.name.startswith("calib_"))
            for i, (label, kind, text) in enumerate(items):
                if not text or key_text(text) == norm:
                    raise ValueError(f"{path.name}: empty or identical second message in {block}")
                pairs.append(Pair(f"{block}-{i}", block, question, text, label, kind, side, _script(text)))
    held_on_calibration = [p.id for p in pairs if p.held_out and p.split == "calibrate"]
    if held_on_calibration:
        raise ValueError(f"held-out kinds on the calibration side: {held_on_calibration[:3]}")
    return pairs


def summary(pairs: list[Pair]) -> dict[str, object]:
    """Counts per side, label, kind and script; and how close the two sides come (exact
    text shared across sides, which the split by first question does not forbid for
    second messages)."""
    by_side = {s: [p for p in pairs if p.split == s] for s in ("calibrate", "test")}
    cal_texts = {key_text(t) for p in by_side["calibrate"] for t in (p.a, p.b)}
    return {
        "pairs": len(pairs),
        "paraphrases": sum(p.label == "hit" for p in pairs),
        "near_misses": sum(p.label == "miss" for p in pairs),
        "kinds": len({p.kind for p in pairs if p.label == "miss"}),
        "blocks": len({p.block for p in pairs}),
        "per_side": {
            s: {
                "pairs": len(ps),
                "blocks": len({p.block for p in ps}),
                "paraphrases": sum(p.label == "hit" for p in ps),
                "near_misses_seen_kinds": sum(p.label == "miss" and not p.held_out for p in ps),
                "near_misses_held_out_kinds": sum(p.held_out for p in ps),
                "scripts": dict(Counter(p.script for p in ps)),
            }
            for s, ps in by_side.items()
        },
        "near_misses_per_kind": dict(sorted(Counter(p.kind for p in pairs if p.label == "miss").items())),
        "test_messages_also_on_calibration_side": sum(key_text(p.b) in cal_texts for p in by_side["test"]),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(summary(load()), indent=2, ensure_ascii=False))
