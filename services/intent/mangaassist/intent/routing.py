"""Model routing: which tier answers an intent, as a table of data, not code branches.

``BASE_ROUTES`` gives each intent its default tier; ``UPGRADES`` lists features that
move product intents to Sonnet (multi-constraint requests, comparisons, long context).
Each decision names the features that fired so it can be explained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from mangaassist.common.textbounds import bounded_fold
from mangaassist.common.vocabulary import PRODUCT_INTENTS
from mangaassist.proto.intent.v1 import intent_pb2

RouteValue: TypeAlias = intent_pb2.Route.ValueType
NONE, HAIKU, SONNET = intent_pb2.ROUTE_NONE, intent_pb2.ROUTE_HAIKU, intent_pb2.ROUTE_SONNET

# Intent → default route. "none" intents are answered deterministically, without a model.
BASE_ROUTES: dict[str, RouteValue] = {
    "greeting": NONE,
    "escalation": NONE,
    "order_status": NONE,
    "out_of_scope": NONE,
    "product_search": HAIKU,
    "product_question": HAIKU,
    "product_recommendation": HAIKU,
    "shipping_info": HAIKU,
    "payment": HAIKU,
    "return_refund": HAIKU,
    "account": HAIKU,
}


# Intents the orchestrator handles the same way (search the catalog, answer grounded in
# the results): telling them apart decides the wording, never the action, so abstention
# weighs the probability of the handling, not of one intent in it.
HANDLING_GROUPS: tuple[frozenset[str], ...] = (frozenset(PRODUCT_INTENTS),)


def handling_confidence(ranked: list[tuple[str, float]]) -> float:
    """Probability that the top intent's *handling* is right: the top intent's own
    probability, or its group's total when it shares a handler with others."""
    top, top_p = ranked[0]
    for group in HANDLING_GROUPS:
        if top in group:
            return sum(p for intent, p in ranked if intent in group)
    return top_p


# Feature name → pattern over the NFKC-normalised, lower-cased message (bounded: see textbounds).
FEATURE_PATTERNS: dict[str, re.Pattern[str]] = {
    # (?<!\d): a digit run is scanned from its start only (the same verdict, linear time).
    "price_limit": re.compile(
        r"((?<!\d)\d[\d,]*+\s*+(円|yen|jpy))|([¥$]\s*\d)|(予算|以下|以内|under|below|cheaper|less than|budget)"
    ),
    "comparison": re.compile(
        r"(比較|比べ|違い|どっち|どちら|より(も)?(面白|いい|良)|\bvs\.?\b|versus|compare|comparison|difference between|better than|which is better)"
    ),
    "negation": re.compile(
        r"(以外|じゃない|ではない|じゃなく|ではなく|なし|無し|\bnot\b|\bno\b|\bwithout\b|\bexcept\b|n't)"
    ),
    "genre": re.compile(
        r"(ファンタジー|ホラー|恋愛|ラブコメ|ミステリー|sf|スポーツ|バトル|日常|歴史|時代|異世界|グルメ|料理|音楽|ロボ|fantasy|horror|romance|mystery|sci-fi|scifi|sports?|action|slice of life|historical|isekai|cooking|music|mecha|thriller|comedy|drama)"
    ),
    "audience": re.compile(
        r"(子供|子ども|小学生|中学生|高校生|大人|初心者|歳|kids?|children|teen|adult|beginner|year[- ]old|gift|プレゼント)"
    ),
    "language_pref": re.compile(r"(英語|日本語|english|japanese)"),
}

# A product message with at least this many constraint features is "multi-constraint".
MULTI_CONSTRAINT = 3
LONG_MESSAGE_CHARS = 200
LONG_CONTEXT_TURNS = 6


@dataclass(frozen=True)
class Upgrade:
    """Move ``intents`` to ``route`` when ``feature`` fires."""

    feature: str
    intents: frozenset[str]
    route: RouteValue


UPGRADES: tuple[Upgrade, ...] = (
    Upgrade("comparison", PRODUCT_INTENTS, SONNET),
    Upgrade("multi_constraint", PRODUCT_INTENTS, SONNET),
    Upgrade("long_message", PRODUCT_INTENTS, SONNET),
    Upgrade("long_context", PRODUCT_INTENTS, SONNET),
)

ROUTE_NAMES = {NONE: "none", HAIKU: "haiku", SONNET: "sonnet"}


def extract_features(text: str, turn_count: int) -> list[str]:
    """Routing features that fire for this message (sorted, stable)."""
    folded = bounded_fold(text).lower()
    fired = [name for name, pattern in FEATURE_PATTERNS.items() if pattern.search(folded)]
    constraints = sum(1 for f in fired if f in {"price_limit", "negation", "genre", "audience", "language_pref"})
    if constraints >= MULTI_CONSTRAINT:
        fired.append("multi_constraint")
    if len(text) > LONG_MESSAGE_CHARS:
        fired.append("long_message")
    if turn_count >= LONG_CONTEXT_TURNS:
        fired.append("long_context")
    return sorted(fired)


def decide(intent: str, features: list[str], abstained: bool) -> intent_pb2.RoutingDecision:
    """Apply the routing table to one classified message."""
    if abstained:
        return intent_pb2.RoutingDecision(
            route=NONE,
            reason="low confidence: ask the customer to clarify instead of guessing",
            features=["abstain", *features],
        )
    route = BASE_ROUTES.get(intent, HAIKU)
    reason = f"{intent} defaults to {ROUTE_NAMES[route]}"
    for upgrade in UPGRADES:
        if upgrade.feature in features and intent in upgrade.intents and upgrade.route != route:
            route = upgrade.route
            reason = f"{intent} with {upgrade.feature} routes to {ROUTE_NAMES[route]}"
            break
    return intent_pb2.RoutingDecision(route=route, reason=reason, features=features)
