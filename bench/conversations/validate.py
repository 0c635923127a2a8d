"""Check a hand-written conversation file against the catalog (no services needed).

    python3 bench/conversations/validate.py [bench/conversations/dev.jsonl]

Checks every line is a well-formed conversation (FORMAT.md), ids are unique, every
series id named in a check exists, volume numbers exist in the edition asked for, and
that the catalog can satisfy each turn: whenever a turn expects products (``products:
"some"``, ``top_series``, ``language``, ``volume``, ``series_in_products``), at least one
real product passes every per-product filter of that turn (and the first product's
checks). Prints counts per language and per kind of check. Exit status 1 on any error.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import operator
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "services/retrieval/mangaassist/retrieval/data/series.json"

# The contract's intents and genres: the same file mangaassist.common.vocabulary reads.
VOCABULARY = json.loads((ROOT / "libs/common/mangaassist/common/vocabulary.json").read_text(encoding="utf-8"))
INTENTS = set(VOCABULARY["intents"])
PRODUCT_INTENTS = set(VOCABULARY["product_intents"])
GENRES = set(VOCABULARY["genres"])

KEYS = {
    "intent",
    "top_series",
    "language",
    "volume",
    "all_language",
    "max_price_jpy",
    "min_price_jpy",
    "status",
    "max_volumes",
    "min_volumes",
    "genres_any",
    "none_genres",
    "none_series",
    "series_in_products",
    "in_stock",
    "products",
    "focus_series",
    "clarify",
    "clarify_candidates",
    "not_carried",
}
ORDERS = {"249-1234567-7654321", "249-2233445-5566778"}


def _catalog() -> list[dict[str, Any]]:
    """The shop's products, built by the retrieval service's own catalog module (stdlib only)."""
    source = ROOT / "services/retrieval/mangaassist/retrieval/catalog.py"
    spec = importlib.util.spec_from_file_location("_catalog", source)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_catalog(DATA)  # type: ignore[no-any-return]


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


# A bound on a product field: the check's key -> (the field, how the value must compare to it).
BOUNDS = {
    "max_price_jpy": ("price_jpy", operator.le),
    "min_price_jpy": ("price_jpy", operator.ge),
    "max_volumes": ("volumes", operator.le),
    "min_volumes": ("volumes", operator.ge),
    "all_language": ("language", operator.eq),
    "status": ("status", operator.eq),
    "in_stock": ("in_stock", operator.eq),
}


def passes_filters(p: dict[str, Any], e: dict[str, Any]) -> bool:
    """The checks that hold for every product of the turn."""
    if any(key in e and not holds(p[field], e[key]) for key, (field, holds) in BOUNDS.items()):
        return False
    if "genres_any" in e and not set(p["genres"]) & set(e["genres_any"]):
        return False
    if "none_genres" in e and set(p["genres"]) & set(e["none_genres"]):
        return False
    return "none_series" not in e or p["series_id"] not in e["none_series"]


def passes_first(p: dict[str, Any], e: dict[str, Any]) -> bool:
    """The checks on products[0] only."""
    if "top_series" in e and p["series_id"] not in _as_list(e["top_series"]):
        return False
    if "language" in e and p["language"] != e["language"]:
        return False
    return "volume" not in e or p["volume_number"] == e["volume"]


def main(path: Path) -> int:
    series = {s["series_id"]: s for s in json.loads(DATA.read_text(encoding="utf-8"))}
    products = _catalog()
    errors: list[str] = []
    ids: set[str] = set()
    per_lang: collections.Counter[str] = collections.Counter()
    turns_per_lang: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    intents: collections.Counter[str] = collections.Counter()
    series_named: collections.Counter[str] = collections.Counter()
    n_turns = 0
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            conv = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: bad JSON: {exc}")
            continue
        cid = conv.get("id")
        where = f"line {lineno} ({cid})"
        if not cid or cid in ids:
            errors.append(f"{where}: missing or duplicate id")
        ids.add(cid)
        if set(conv) - {"id", "lang", "signed_in", "turns"}:
            errors.append(f"{where}: unknown keys {set(conv) - {'id', 'lang', 'signed_in', 'turns'}}")
        if conv.get("lang") not in ("ja", "en", "mixed"):
            errors.append(f"{where}: bad lang {conv.get('lang')!r}")
        per_lang[conv.get("lang")] += 1
        turns = conv.get("turns") or []
        if not turns:
            errors.append(f"{where}: no turns")
        turns_per_lang[conv.get("lang")] += len(turns)
        for t_i, turn in enumerate(turns, 1):
            n_turns += 1
            w = f"{where} turn {t_i}"
            if set(turn) - {"text", "expect"} or not isinstance(turn.get("text"), str) or not turn["text"].strip():
                errors.append(f"{w}: a turn is {{text, expect}} with non-empty text")
                continue
            for number in re.findall(r"\d{3}-\d{7}-\d{7}", turn["text"]):
                if number not in ORDERS or not conv.get("signed_in"):
                    errors.append(f"{w}: order {number} is not one the signed-in demo customer owns")
            e = turn.get("expect") or {}
            if set(e) - KEYS:
                errors.append(f"{w}: unknown checks {set(e) - KEYS}")
            for it in _as_list(e.get("intent", [])):
                if it not in INTENTS:
                    errors.append(f"{w}: unknown intent {it!r}")
                intents[it] += 1
            named = []
            for k in ("top_series", "focus_series", "none_series", "series_in_products", "clarify_candidates"):
                if k in e:
                    named += _as_list(e[k])
            for sid in named:
                if sid not in series:
                    errors.append(f"{w}: unknown series {sid!r}")
                series_named[sid] += 1
            for k in ("genres_any", "none_genres"):
                for g in e.get(k, []):
                    if g not in GENRES:
                        errors.append(f"{w}: {k} {g!r} not in the genre vocabulary")
            for k in ("language", "all_language"):
                if k in e and e[k] not in ("ja", "en"):
                    errors.append(f"{w}: {k} must be ja/en")
            if "status" in e and e["status"] not in ("completed", "ongoing"):
                errors.append(f"{w}: status must be completed/ongoing")
            if "products" in e and e["products"] not in ("some", "none"):
                errors.append(f"{w}: products must be some/none")
            if "clarify" in e and e["clarify"] not in ("series", "order_id"):
                errors.append(f"{w}: clarify must be series/order_id")
            if "clarify_candidates" in e and e.get("clarify") != "series":
                errors.append(f"{w}: clarify_candidates without clarify: series")
            if e.get("clarify") == "order_id" and not conv.get("signed_in"):
                errors.append(f"{w}: order-number ask-back expects signed_in: true")
            if "not_carried" in e and e["not_carried"] is not True:
                errors.append(f"{w}: not_carried is only ever true")
            if set(e.get("none_series", [])) & set(_as_list(e.get("top_series", []))):
                errors.append(f"{w}: top_series is also in none_series")
            if "volume" in e and "top_series" not in e:
                errors.append(f"{w}: a volume check names its series (top_series)")
            for k in ("max_price_jpy", "min_price_jpy", "max_volumes", "min_volumes", "volume"):
                if k in e and not isinstance(e[k], int):
                    errors.append(f"{w}: {k} must be an integer")
            # Satisfiable by the catalog?
            wants = e.get("products") == "some" or any(k in e for k in ("top_series", "language", "volume"))
            if e.get("products") == "none" and any(
                k in e for k in ("top_series", "language", "volume", "series_in_products", "not_carried")
            ):
                errors.append(f"{w}: products none contradicts a product check")
            ok = [p for p in products if passes_filters(p, e)]
            if wants and not any(passes_first(p, e) for p in ok):
                errors.append(f"{w}: no product satisfies the checks {e}")
            for sid in e.get("series_in_products", []):
                if not any(p["series_id"] == sid for p in ok):
                    errors.append(f"{w}: series_in_products {sid} fails the filters")
            # Kinds (rough, from the checks).
            if e.get("clarify") == "order_id" or "order_status" in _as_list(e.get("intent", [])):
                kinds["order status"] += 1
            if e.get("clarify") == "series":
                kinds["ask back: which series"] += 1
            if e.get("not_carried"):
                kinds["not carried"] += 1
            if "none_series" in e and "product_recommendation" in _as_list(e.get("intent", [])):
                kinds["like X"] += 1
            if "volume" in e:
                kinds["volume"] += 1
            if "focus_series" in e:
                kinds["focus follow-up"] += 1
            if any(
                k in e
                for k in (
                    "status",
                    "max_volumes",
                    "min_volumes",
                    "max_price_jpy",
                    "min_price_jpy",
                    "none_genres",
                    "all_language",
                    "in_stock",
                )
            ):
                kinds["constraint"] += 1
            its = set(_as_list(e.get("intent", [])))
            if its and not its & PRODUCT_INTENTS:
                kinds["non-product intent"] += 1
    total = sum(per_lang.values())
    print(f"{path}: {total} conversations, {n_turns} turns")
    for lang in ("ja", "en", "mixed"):
        share = 100 * per_lang[lang] / total if total else 0
        print(f"  {lang:5} {per_lang[lang]:4} conversations ({share:4.1f} %), {turns_per_lang[lang]:4} turns")
    print("  turns per kind (rough): " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print("  intents: " + ", ".join(f"{k} {v}" for k, v in intents.most_common()))
    print(f"  distinct series named in checks: {len(series_named)} of {len(series)}")
    for msg in errors:
        print("ERROR", msg)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("dev.jsonl")))
