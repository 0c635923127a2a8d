"""Render ``PromptParts`` into the conversation sent to the model (payload minimisation).

Only the product fields an answer needs go in (25+ catalog fields, 6-7 needed:
docs/decisions/0008-budgets-pools-breakers.md), as one compact JSON object per line;
history is trimmed, newest first, to a token budget; the system prompt is fixed. Sections
are XML-tagged, the layout Anthropic recommends for Claude (and what the local emulator
reads back); customer text (the question and the history) has those tags removed before it
goes in.
"""

from __future__ import annotations

import re

import orjson

from mangaassist.inference.backend import Conversation
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2

SYSTEM_PROMPT = (
    "You are MangaAssist, the shopping assistant of a Japanese manga store. Answer in the language "
    "given in <language>, only from <products> and <documents>; never invent titles, prices or stock. "
    "Keep answers short."
)
# What an answer may mention about a product.
# "volume" (the one asked for), its edition language and the series status answer volume-level questions.
PROMPT_FIELDS = (
    "title",
    "authors",
    "genres",
    "volumes",
    "volume",
    "language",
    "status",
    "price_jpy",
    "in_stock",
    "synopsis_short",
)
_TOKEN = re.compile(r"[A-Za-z0-9]+|[\u3040-\u30ff\u3400-\u9fff]|\S")


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (a word, a CJK character or a symbol each)."""
    return len(_TOKEN.findall(text))


_FIELDS = common_pb2.Product.DESCRIPTOR.fields_by_name

# The prompt's own section tags, opening or closing, with attributes up to a closing bracket
# on the same line, in ASCII or full-width brackets (which models read as the same tag).
_SECTION_TAGS = ("language", "intent", "catalog_note", "products", "documents", "question")
# Said to the model when the title the customer named is not in the catalog (intent's
# linker decided that): the answer must say so first, and offer the products as alternatives.
NOT_CARRIED_NOTE = (
    "The title the customer asked for is not sold by this store. Say so plainly first; "
    "the products below are alternatives, not that title."
)
_DELIMITER = re.compile(
    r"[<＜]\s{0,8}/?\s{0,8}(?:" + "|".join(_SECTION_TAGS) + r")\b(?:[^<>＜＞\n]{0,64}[>＞])?",
    re.IGNORECASE,
)


def neutralise(text: str) -> str:
    """Customer text with the prompt's section tags removed, so a message cannot close
    ``<question>`` and open a ``<documents>`` of its own (everything else is left as typed)."""
    return _DELIMITER.sub(" ", text)


def product_line(p: common_pb2.Product, fields: tuple[str, ...] = PROMPT_FIELDS) -> str:
    """One product as a compact JSON line with only ``fields`` (absent/empty fields omitted)."""
    out: dict[str, object] = {}
    for name in fields:
        field = _FIELDS[name]
        value = getattr(p, name)
        if field.is_repeated:
            if value:
                out[name] = list(value)
        elif field.has_presence:
            if p.HasField(name):  # type: ignore[arg-type]
                out[name] = value
        elif value:
            out[name] = value
    return orjson.dumps(out).decode()


def user_message(prompt: inference_pb2.PromptParts, fields: tuple[str, ...] = PROMPT_FIELDS) -> str:
    parts = [f"<language>{prompt.language or 'en'}</language>"]
    if prompt.intent:
        parts.append(f"<intent>{prompt.intent}</intent>")
    if prompt.not_carried:
        parts.append(f"<catalog_note>{NOT_CARRIED_NOTE}</catalog_note>")
    if prompt.products:
        parts.append("<products>\n" + "\n".join(product_line(p, fields) for p in prompt.products) + "\n</products>")
    if prompt.documents:
        parts.append("<documents>\n" + "\n---\n".join(prompt.documents) + "\n</documents>")
    parts.append(f"<question>{neutralise(prompt.question)}</question>")
    return "\n".join(parts)


def trim_history(turns: list[tuple[str, str]], budget_tokens: int) -> list[tuple[str, str]]:
    """The newest turns that fit the budget, starting with a user turn, roles alternating."""
    kept: list[tuple[str, str]] = []
    used = 0
    for role, text in reversed(turns):
        cost = estimate_tokens(text)
        if used + cost > budget_tokens:
            break
        kept.append((role, text))
        used += cost
    kept.reverse()
    merged: list[tuple[str, str]] = []
    for role, text in kept:
        if role not in ("user", "assistant") or not text.strip():
            continue
        if merged and merged[-1][0] == role:
            merged[-1] = (role, merged[-1][1] + "\n" + text)
        else:
            merged.append((role, text))
    while merged and merged[0][0] != "user":
        merged.pop(0)
    # The question follows as a user message, so history must end with the assistant.
    if merged and merged[-1][0] == "user":
        merged.pop()
    return merged


def render(prompt: inference_pb2.PromptParts, history_budget_tokens: int) -> Conversation:
    history = trim_history([(t.role, neutralise(t.text)) for t in prompt.history], history_budget_tokens)
    return Conversation(system=SYSTEM_PROMPT, messages=[*history, ("user", user_message(prompt))])


def continuing(conversation: Conversation, sent: str) -> tuple[Conversation, str]:
    """The conversation with the answer's start as an assistant prefill, which Claude continues
    rather than restarts; and the trailing whitespace of ``sent`` left out of the prefill
    (Claude refuses a prefill that ends with whitespace) that the customer already has."""
    prefill = sent.rstrip()
    if not prefill:
        return conversation, sent
    return Conversation(conversation.system, [*conversation.messages, ("assistant", prefill)]), sent[len(prefill) :]


def skip_sent_whitespace(text: str, sent_whitespace: str) -> tuple[str, str]:
    """A continuation delta without the whitespace the customer already has (the prefill's
    stripped tail): (what to send, the part of that whitespace still to match)."""
    k = 0
    while k < len(text) and k < len(sent_whitespace) and text[k] == sent_whitespace[k]:
        k += 1
    if k == len(text):  # the delta was all already-sent whitespace: keep matching the next one
        return "", sent_whitespace[k:]
    return text[k:], ""
