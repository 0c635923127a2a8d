"""The checks of the conversation suite (bench/conversations/FORMAT.md) on one ``done`` frame."""

from __future__ import annotations

from typing import Any

PRODUCT_INTENTS = frozenset({"product_recommendation", "product_search", "product_question"})


def _one_of(value: Any, expected: Any) -> bool:
    return value in expected if isinstance(expected, list) else value == expected


def check_turn(expect: dict[str, Any], frame: dict[str, Any]) -> list[str]:
    """The names of the checks that failed (empty: the turn passed)."""
    if frame.get("type") != "done":
        return [f"error:{frame.get('code')}"]
    products: list[dict[str, Any]] = frame.get("products") or []
    top = products[0] if products else {}
    state = frame.get("state") or {}
    clarify = frame.get("clarify") or {}
    failed: list[str] = []

    def need(name: str, ok: bool) -> None:
        if not ok:
            failed.append(name)

    product_turn = (
        _one_of(expect.get("intent"), list(PRODUCT_INTENTS))
        if "intent" in expect
        else any(k in expect for k in ("top_series", "products", "genres_any", "none_series"))
    )
    if clarify.get("kind") == "generic" and (product_turn or not expect):
        failed.append("generic_ask_back")
    for key, want in expect.items():
        if key == "intent":
            need(key, _one_of(frame.get("intent"), want))
        elif key == "top_series":
            need(key, _one_of(top.get("series_id"), want))
        elif key == "language":
            need(key, top.get("language") == want)
        elif key == "volume":
            need(key, top.get("volume") == want)
        elif key == "all_language":
            need(key, bool(products) and all(p.get("language") == want for p in products))
        elif key == "max_price_jpy":
            need(key, all(p.get("price_jpy", 0) <= want for p in products))
        elif key == "min_price_jpy":
            need(key, all(p.get("price_jpy", 0) >= want for p in products))
        elif key == "status":
            need(key, all(p.get("status") == want for p in products))
        elif key == "max_volumes":
            need(key, all(p.get("volumes", 0) <= want for p in products))
        elif key == "min_volumes":
            need(key, all(p.get("volumes", 0) >= want for p in products))
        elif key == "genres_any":
            need(key, all(set(p.get("genres", [])) & set(want) for p in products))
        elif key == "none_genres":
            need(key, not any(set(p.get("genres", [])) & set(want) for p in products))
        elif key == "none_series":
            need(key, not any(p.get("series_id") in want for p in products))
        elif key == "series_in_products":
            shown = {p.get("series_id") for p in products}
            need(key, all(s in shown for s in want))
        elif key == "in_stock":
            need(key, all(p.get("in_stock") == want for p in products))
        elif key == "products":
            need(key, bool(products) == (want == "some"))
        elif key == "focus_series":
            need(key, (state.get("focus") or {}).get("series_id") == want)
        elif key == "clarify":
            need(key, clarify.get("kind") == want)
        elif key == "clarify_candidates":
            need(key, all(s in (clarify.get("candidates") or []) for s in want))
        elif key == "not_carried":
            need(key, bool(frame.get("not_carried")) == bool(want))
        else:
            failed.append(f"unknown_check:{key}")
    return failed
