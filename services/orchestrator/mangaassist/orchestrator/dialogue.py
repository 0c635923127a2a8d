"""The dialogue state as the orchestrator keeps it: stored with the session, handed to the
intent service with each turn, turned into the search the resolved turn asks for, and
reported to the client in the ``done`` frame.

The orchestrator never interprets the customer's words here: the intent service resolves
the turn (``ResolvedRequest``); this module only carries the state and maps it onto the
retrieval request.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf.message import DecodeError

from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2

logger = logging.getLogger(__name__)

STATE_VERSION = 1  # the DialogueState format the intent service resolves against
MAX_DISCUSSED = 8  # series of a conversation remembered for "the first one I asked about"


def decode_state(raw: bytes) -> common_pb2.DialogueState:
    """The stored state, or a fresh one when it is missing, corrupt or of an older format
    (logged; the customer only sees a conversation that starts over)."""
    state = common_pb2.DialogueState()
    if not raw:
        return state
    try:
        state.ParseFromString(raw)
    except DecodeError:
        logger.warning("dialogue state unreadable; starting a new topic", extra={"bytes": len(raw)})
        return common_pb2.DialogueState()
    if state.version != STATE_VERSION:
        logger.info("dialogue state of another format; starting a new topic", extra={"state_version": state.version})
        return common_pb2.DialogueState()
    return state


def is_blank(raw: bytes) -> bool:
    """Whether the stored state holds nothing a turn resolves against (a first turn, or one
    after a greeting): no focus, request, shown series or pending slot."""
    state = decode_state(raw)
    return not any(field.name != "version" for field, _ in state.ListFields())


def same_question(entry_intent: str, classified: intent_pb2.ClassifyResponse) -> bool:
    """Whether this turn, read in its conversation, asks what a cached entry answered: the
    same intent, understood (no ask-back or slot to fill) and answered, not searched anew."""
    return (
        classified.intent == entry_intent
        and not classified.abstained
        and classified.resolved.action == "answer"
        and not classified.resolved.state.pending
    )


@dataclass
class SearchPlan:
    """The retrieval request the resolved turn asks for."""

    filters: common_pb2.SearchFilters
    like_series_ids: list[str] = field(default_factory=list)
    volume: int | None = None
    latest_volume: bool = False
    applied: dict[str, Any] = field(default_factory=dict)  # what the done frame's ``state`` reports
    # The request in force's own words, searched with this refinement of it (not reported).
    topic: str = ""
    # The customer describes one of the series offered ("the one with the single dad"): a
    # series outside them that the words fit much better may be the one meant.
    described: bool = False


_CONSTRAINT_FIELDS = (
    "max_price_jpy",
    "min_price_jpy",
    "max_volumes",
    "min_volumes",
    "status",
    "in_stock",
    "max_age_rating",
)
# List constraints of the state → the search filter field that carries each.
_LIST_FILTERS = (
    ("excluded_series", "exclude_series_ids"),
    ("only_series", "series_ids"),
    ("by_authors_of", "by_authors_of"),
    ("excluded_kinds", "excluded_kinds"),
    ("all_genres", "all_genres"),
    ("shorter_than", "shorter_than"),
    ("cheaper_than", "cheaper_than"),
)


def search_plan(client: common_pb2.SearchFilters, resolved: intent_pb2.ResolvedRequest) -> SearchPlan:
    """Filters for this turn: the client's own filters win field by field; the conversation's
    focus and constraints fill the rest."""
    state = resolved.state
    c = state.constraints
    merged = common_pb2.SearchFilters()
    merged.CopyFrom(client)
    constraints: dict[str, Any] = {}
    if not client.genres and c.genres:
        merged.genres.extend(c.genres)
    if c.genres:
        constraints["genres"] = list(c.genres)
    if c.excluded_genres:
        merged.excluded_genres.extend(g for g in c.excluded_genres if g not in merged.excluded_genres)
        constraints["excluded_genres"] = list(c.excluded_genres)
    for name in _CONSTRAINT_FIELDS:
        if c.HasField(name):  # type: ignore[arg-type]
            constraints[name] = getattr(c, name)
            if not client.HasField(name):  # type: ignore[arg-type]
                setattr(merged, name, getattr(c, name))
    if (
        merged.HasField("min_price_jpy")
        and merged.HasField("max_price_jpy")
        and merged.min_price_jpy > merged.max_price_jpy
    ):
        merged.ClearField("min_price_jpy")  # the conversation's bound gives way to the client's own
    language = (
        state.focus.language
        if state.HasField("focus") and state.focus.HasField("language")
        else (c.language if c.HasField("language") else None)
    )
    if language is not None:
        constraints["language"] = language
        if not client.HasField("language"):
            merged.language = language
    for name, filter_field in _LIST_FILTERS:
        values = list(getattr(c, name))
        if values:
            getattr(merged, filter_field).extend(values)
            constraints[name] = values
    plan = SearchPlan(merged)
    applied: dict[str, Any] = {}
    choosing = resolved.action == "choose"
    if state.HasField("focus") and (state.focus.series_id or choosing):
        # (A choice, "the shorter one, vol 1 in English", has no series yet: that volume and
        # edition of each series offered; the one put first becomes the focus, ``with_shown``.)
        focus: dict[str, Any] = {}
        if state.focus.series_id:
            focus["series_id"] = state.focus.series_id
            del merged.series_ids[:]
            merged.series_ids.append(state.focus.series_id)
        if state.focus.HasField("language"):
            focus["language"] = state.focus.language
        if state.focus.HasField("volume"):
            plan.volume = state.focus.volume
            focus["volume"] = state.focus.volume
        elif state.focus.latest_volume:
            plan.latest_volume = True
            focus["volume"] = "latest"
        applied["focus"] = focus
    if resolved.follow_up and state.topic and not (state.HasField("focus") and state.focus.series_id):
        plan.topic = state.topic
    plan.described = (
        choosing
        and not resolved.offered_only
        and not resolved.order
        and bool(merged.series_ids)
        and not (state.HasField("focus") and state.focus.series_id)
    )
    if resolved.action == "clarify_series":
        del merged.series_ids[:]
        merged.series_ids.extend(resolved.candidates)
    if c.like_series_ids:
        plan.like_series_ids = list(c.like_series_ids)
        constraints["like_series_ids"] = list(c.like_series_ids)
    if constraints:
        applied["constraints"] = constraints
    plan.applied = applied
    return plan


def with_shown(
    resolved: intent_pb2.ResolvedRequest, series_ids: list[str], keep: int = 10, shown_volume: int | None = None
) -> bytes:
    """The state to store after this turn: the resolved state plus what was shown (and the
    number of "the latest volume" shown, so "the one before it" can be counted)."""
    state = common_pb2.DialogueState()
    state.CopyFrom(resolved.state)
    if state.HasField("focus") and state.focus.latest_volume and shown_volume is not None:
        state.focus.latest_shown = shown_volume
    if resolved.action == "choose" and series_ids:
        # The customer described one of the series we offered; the best match is now the focus.
        state.focus.series_id = series_ids[0]
        del state.constraints.only_series[:]
    if series_ids:
        del state.last_shown[:]
        state.last_shown.extend(series_ids[:keep])
    if state.HasField("focus") and state.focus.series_id and state.focus.series_id not in state.discussed:
        # The series talked about, in the order they came up: the first is kept whatever
        # follows ("the one I asked about first"), the rest are the latest.
        state.discussed.append(state.focus.series_id)
    if len(state.discussed) > MAX_DISCUSSED:
        del state.discussed[1 : len(state.discussed) - MAX_DISCUSSED + 1]
    return state.SerializeToString(deterministic=True)


def clarify_frame(classified: intent_pb2.ClassifyResponse) -> dict[str, Any] | None:
    """The done frame's ``clarify``: what we asked the customer back, if anything."""
    action = classified.resolved.action
    if action == "clarify_series":
        return {"kind": "series", "candidates": list(classified.resolved.candidates)}
    if action == "ask_order_id":
        return {"kind": "order_id"}
    if classified.abstained:
        return {"kind": "generic"}
    return None


def scope_digest(applied: dict[str, Any], order: str = "") -> str:
    """A short digest of what a turn resolved to (and the order asked for: "the cheapest" is
    not "the dearest"), for the answer cache's partitions."""
    if not applied and not order:
        return ""
    blob = orjson.dumps({**applied, "_order": order} if order else applied, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]
