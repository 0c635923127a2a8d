"""Which answers the shared cache may hold, and which requests it may answer.

The cache is shared by every customer, so an answer goes in only when nothing
customer-specific went into its prompt, and an entry comes out only for a request whose
own answer would have been built the same way. Both decisions come from the function
that picks the prompt's history (``prompt_history``) and from the prompt itself
(``prompt_context``), not from a second list of rules that could drift from what the
model actually saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mangaassist.orchestrator.cache.base import CacheEntry
from mangaassist.orchestrator.cache.keys import documents_version
from mangaassist.orchestrator.replies import documents_for
from mangaassist.proto.inference.v1 import inference_pb2

# Shop-information intents: answered from the shop's documents. The conversation adds
# nothing to such an answer but the chance of repeating the customer's own data (an
# order, an address), so their prompts never carry history and their answers stay
# shareable mid-conversation.
DOCUMENT_INTENTS: frozenset[str] = frozenset({"shipping_info", "payment", "return_refund"})

# Prompt fields that are the same for everyone who asks the same question with the same
# filters. Any other field that is set (history today; order data or session state if
# the prompt ever gains them) makes the prompt customer-specific. ``not_carried`` is the
# catalog's answer to the name in the question (the cache partitions by the resolution).
SHARED_PROMPT_FIELDS: frozenset[str] = frozenset(
    {"system", "products", "question", "documents", "language", "intent", "not_carried"}
)
DOCUMENT_LANGUAGES = ("ja", "en")

Turn = tuple[str, str]


def prompt_history(intent: str, turns: Sequence[Turn], max_turns: int) -> list[Turn]:
    """The conversation turns a prompt for ``intent`` carries: the last ``max_turns``
    exchanges, none for shop-information intents."""
    if intent in DOCUMENT_INTENTS or max_turns <= 0:
        return []
    return list(turns[-2 * max_turns :])


def answer_is_shareable(intent: str, turns: Sequence[Turn], max_turns: int) -> bool:
    """Would a request's own answer be built from nothing customer-specific?

    True on the first turn of a conversation, and for intents whose prompt never carries
    history. Only such a request may be served a shared entry: mid-conversation, "how
    many volumes are out?" means the series being discussed, not what it meant to the
    customer whose answer was cached.
    """
    return not prompt_history(intent, turns, max_turns)


@dataclass(frozen=True)
class PromptContext:
    """What one prompt was built from, beyond what everyone asking the same question shares.

    ``personal`` names the customer-specific prompt fields that were set (e.g.
    ``("history",)``); ``documents`` is the version of the shop documents it quoted.
    """

    personal: tuple[str, ...]
    documents: str

    @property
    def shareable(self) -> bool:
        """May the answer go to the shared cache (the guardrail and fallbacks permitting)?"""
        return not self.personal


def prompt_context(prompt: inference_pb2.PromptParts) -> PromptContext:
    """Read the context descriptor off the prompt exactly as it is sent to the model."""
    personal = tuple(sorted(f.name for f, _ in prompt.ListFields() if f.name not in SHARED_PROMPT_FIELDS))
    return PromptContext(personal=personal, documents=documents_version(prompt.documents))


def current_documents(intent: str, language: str) -> str:
    """The version of the shop documents a prompt for ``intent`` in ``language`` quotes now."""
    return documents_version(documents_for(intent, language))


def may_serve(entry: CacheEntry, turns: Sequence[Turn], max_turns: int) -> bool:
    """May a shared entry answer a request of a session with ``turns``?

    Only when the request's own answer would have been shareable (see
    ``answer_is_shareable``, judged for the entry's intent) and the entry was built from
    the shop documents in force now, in either language: the exact tier is looked up
    before the request's intent and language are known, so it cannot key on them.
    """
    if not answer_is_shareable(entry.intent, turns, max_turns):
        return False
    return entry.documents in {current_documents(entry.intent, lang) for lang in DOCUMENT_LANGUAGES}
