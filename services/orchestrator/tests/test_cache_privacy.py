"""What the shared cache may hold and serve: the shareability decision, the shop-document
version in the key, and the pipeline keeping one conversation's context out of another's
answers (fake downstreams, the real pipeline, sessions and in-process cache)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from mangaassist.orchestrator import replies
from mangaassist.orchestrator.auth import Identity
from mangaassist.orchestrator.cache import CacheConfig, CacheEntry, CacheKey, InMemorySemanticCache
from mangaassist.orchestrator.cache.keys import documents_version, entry_id, filter_signature, key_text
from mangaassist.orchestrator.cache.privacy import (
    SHARED_PROMPT_FIELDS,
    answer_is_shareable,
    current_documents,
    may_serve,
    prompt_context,
    prompt_history,
)
from mangaassist.orchestrator.pipeline import Downstreams
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2
from mangaassist.proto.intent.v1 import intent_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2
from services.orchestrator.tests.test_pipeline_fallbacks import pipeline_over

ORDER = "249-1234567-7654321"
ORDER_TURNS = [
    ("user", f"Where is my order {ORDER}?"),
    ("assistant", f"Order {ORDER} has shipped, tracking number 4821-9932-1076."),
]


def faq_entry(documents: str) -> CacheEntry:
    return CacheEntry(
        answer="Unopened items can be returned within 14 days.",
        intent="return_refund",
        model="haiku",
        products=[],
        documents=documents,
    )


# --- the decision ------------------------------------------------------------------------


def test_product_prompts_carry_history_and_shop_information_prompts_never_do() -> None:
    turns = ORDER_TURNS * 4
    assert prompt_history("product_question", turns, 2) == turns[-4:]
    assert prompt_history("product_question", [], 2) == []
    assert prompt_history("product_question", turns, 0) == []  # history switched off
    for intent in ("return_refund", "shipping_info", "payment"):
        assert prompt_history(intent, turns, 6) == []


def test_a_request_is_shareable_on_the_first_turn_or_when_its_prompt_never_holds_history() -> None:
    assert answer_is_shareable("product_question", [], 6)
    assert not answer_is_shareable("product_question", ORDER_TURNS, 6)
    assert answer_is_shareable("return_refund", ORDER_TURNS, 6)
    assert answer_is_shareable("product_question", ORDER_TURNS, 0)


def test_the_context_descriptor_is_read_off_the_prompt_itself() -> None:
    documents = replies.documents_for("return_refund", "en")
    faq = inference_pb2.PromptParts(
        system="s", question="What is your return policy?", documents=documents, language="en", intent="return_refund"
    )
    assert prompt_context(faq).shareable and prompt_context(faq).documents == documents_version(documents)
    product = inference_pb2.PromptParts(
        system="s",
        question="how many volumes are out?",
        language="en",
        intent="product_question",
        products=[common_pb2.Product(asin="B0X", title="X")],
        history=[common_pb2.Turn(role=r, text=t) for r, t in ORDER_TURNS],
    )
    context = prompt_context(product)
    assert not context.shareable and context.personal == ("history",) and context.documents == ""


def test_every_prompt_field_is_classified_shared_or_personal() -> None:
    """A field added to the prompt (order data, session state) counts as customer-specific
    until it is deliberately listed as shared: this test names the ones that are."""
    fields = {f.name for f in inference_pb2.PromptParts.DESCRIPTOR.fields}
    assert fields - SHARED_PROMPT_FIELDS == {"history"}


def test_a_shared_entry_is_served_only_where_the_requests_own_answer_would_be_shareable() -> None:
    now = current_documents("return_refund", "en")
    product = CacheEntry(answer="12 volumes.", intent="product_question", model="haiku", products=[])
    assert may_serve(product, [], 6)
    assert not may_serve(product, ORDER_TURNS, 6)
    assert may_serve(faq_entry(now), ORDER_TURNS, 6)
    assert may_serve(faq_entry(current_documents("return_refund", "ja")), [], 6)


# --- the shop-document version ---------------------------------------------------------


def test_documents_version_is_a_content_hash() -> None:
    docs = replies.documents_for("shipping_info", "en")
    assert documents_version(docs) == documents_version(list(docs)) != documents_version([*docs[:-1], "edited"])
    assert documents_version([]) == "" and len(documents_version(docs)) == 16
    assert current_documents("product_question", "en") == ""


def test_an_edited_policy_document_retires_answers_built_from_the_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    old = current_documents("return_refund", "en")
    assert may_serve(faq_entry(old), [], 6)
    edited = ["Unopened items can be returned within 30 days of delivery."]
    monkeypatch.setitem(replies.DOCUMENTS["return_refund"], "en", edited)
    assert current_documents("return_refund", "en") == documents_version(edited) != old
    assert not may_serve(faq_entry(old), [], 6)


async def test_the_semantic_tier_matches_only_entries_of_the_same_document_version() -> None:
    cache = InMemorySemanticCache(CacheConfig(threshold=0.9, dim=4))
    v = np.array([1, 0, 0, 0], dtype=np.float32)
    stored = CacheKey("What is your return policy?", "en", {}, "return_refund")
    assert await cache.store(stored, v, faq_entry("v1"))
    asked = CacheKey("What's your return policy", "en", {}, "return_refund")
    hit = await cache.lookup_semantic(CacheKey(**{**asked.__dict__, "documents": "v1"}), v)
    assert hit is not None and hit.entry.documents == "v1"
    assert await cache.lookup_semantic(CacheKey(**{**asked.__dict__, "documents": "v2"}), v) is None
    exact = await cache.lookup_exact(CacheKey("What is your return policy?", "en"))
    assert exact is not None and exact.entry.documents == "v1"  # the caller checks it (may_serve)


async def test_a_hit_names_its_entry_by_a_hash_id_on_both_tiers() -> None:
    cache = InMemorySemanticCache(CacheConfig(threshold=0.9, dim=4))
    v = np.array([1, 0, 0, 0], dtype=np.float32)
    text = "Recommend some dark fantasy manga"
    await cache.store(
        CacheKey(text, "en", {}, "product_recommendation"), v, CacheEntry("…", "product_recommendation", "haiku", [])
    )
    exact = await cache.lookup_exact(CacheKey(text, "en"))
    semantic = await cache.lookup_semantic(
        CacheKey("recommend dark fantasy manga", "en", {}, "product_recommendation"), v
    )
    assert exact is not None and semantic is not None
    assert exact.entry_id == semantic.entry_id == entry_id(key_text(text), "en", filter_signature({}))
    assert len(exact.entry_id) == 32 and "fantasy" not in exact.entry_id


# --- through the pipeline ---------------------------------------------------------------------


INTENTS = {"What is your return policy?": "return_refund", f"Where is my order {ORDER}?": "order_status"}
ROUTES = {"order_status": intent_pb2.ROUTE_NONE}


class FakeIntent:
    async def Classify(self, request: intent_pb2.ClassifyRequest, **_: Any) -> intent_pb2.ClassifyResponse:
        intent = INTENTS.get(request.text, "product_question")
        return intent_pb2.ClassifyResponse(
            intent=intent,
            confidence=0.9,
            language="en",
            routing=intent_pb2.RoutingDecision(route=ROUTES.get(intent, intent_pb2.ROUTE_HAIKU), reason="test"),
        )


class FakeRetrieval:
    async def Embed(self, request: retrieval_pb2.EmbedRequest, **_: Any) -> retrieval_pb2.EmbedResponse:
        return retrieval_pb2.EmbedResponse(embedding=[0.5] * 4, model="fake")

    async def Search(self, request: Any, **_: Any) -> retrieval_pb2.SearchResponse:
        product = common_pb2.Product(asin="B0X", series_id="x", title="X", price_jpy=500, language="en")
        return retrieval_pb2.SearchResponse(results=[retrieval_pb2.ScoredProduct(product=product, score=0.9)])


class EchoCall:
    """A model that quotes the history it was given, like a real one may."""

    def __init__(self, request: inference_pb2.GenerateRequest) -> None:
        self.text = "answer" + "".join(f" [{t.text}]" for t in request.prompt.history)

    def cancel(self) -> bool:
        return True

    async def __aiter__(self) -> AsyncIterator[inference_pb2.GenerateResponse]:
        yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text=self.text))
        yield inference_pb2.GenerateResponse(done=inference_pb2.GenerationDone(model="haiku", backend="fake"))


class FakeInference:
    def __init__(self) -> None:
        self.prompts: list[inference_pb2.PromptParts] = []

    def Generate(self, request: inference_pb2.GenerateRequest, **_: Any) -> EchoCall:
        self.prompts.append(request.prompt)
        return EchoCall(request)


class Mesh:
    def __init__(self) -> None:
        self.inference = FakeInference()
        self.cache = InMemorySemanticCache(CacheConfig(dim=4))
        downstreams = Downstreams(intent=FakeIntent(), retrieval=FakeRetrieval(), inference=self.inference)  # type: ignore[arg-type]
        self.pipeline = pipeline_over(downstreams, self.cache)
        self.n = 0

    async def ask(self, text: str, session_id: str | None = None) -> tuple[str, dict[str, Any]]:
        """The answer's text and its ``done`` frame, once the after-answer work has landed."""
        frames: list[dict[str, Any]] = []

        async def emit(frame: dict[str, Any]) -> None:
            frames.append(json.loads(json.dumps(frame)))

        self.n += 1
        raw = {
            "type": "query",
            "text": text,
            "request_id": f"r{self.n}",
            **({"session_id": session_id} if session_id else {}),
        }
        await self.pipeline.handle(raw, 0.0, emit, Identity())
        for _ in range(100):  # session update and cache write run after `done`
            if self.pipeline.post.pending == 0:
                break
            await asyncio.sleep(0.01)
        return "".join(f["text"] for f in frames if f["type"] == "token"), frames[-1]


@pytest.fixture
def mesh() -> Mesh:
    return Mesh()


async def test_an_answer_built_with_history_is_neither_cached_nor_served_mid_conversation(mesh: Mesh) -> None:
    await mesh.ask(f"Where is my order {ORDER}?", "s-a")
    text, done = await mesh.ask("How many volumes of Berserk are out?", "s-a")
    assert ORDER in text and done["cache_hit"] is False  # the model saw (and quoted) the order
    assert mesh.cache.stats()["stored"] == 0
    text, done = await mesh.ask("How many volumes of Berserk are out?")  # another customer
    assert ORDER not in text and done["cache_hit"] is False
    assert mesh.cache.stats()["stored"] == 1  # a first turn: shareable
    text, done = await mesh.ask("How many volumes of Berserk are out?", "s-a")
    assert done["cache_hit"] is False and mesh.cache.stats()["exact_hit"] == 1  # found, not served
    assert ORDER in text and mesh.cache.stats()["stored"] == 1  # answered with the conversation, not stored


async def test_shop_information_is_answered_without_history_and_shared(mesh: Mesh) -> None:
    await mesh.ask(f"Where is my order {ORDER}?", "s-a")
    text, done = await mesh.ask("What is your return policy?", "s-a")
    assert done["intent"] == "return_refund" and ORDER not in text and done["cache_hit"] is False
    assert not list(mesh.inference.prompts[-1].history)
    assert list(mesh.inference.prompts[-1].documents) == replies.documents_for("return_refund", "en")
    shared, done = await mesh.ask("What is your return policy?")
    assert shared == text and done["cache_hit"] is True
    assert done["cache"] == {"tier": "exact", "similarity": 1.0}
    _, done = await mesh.ask("What is your return policy?", "s-a")  # mid-conversation, still shareable
    assert done["cache_hit"] is True


async def test_an_edited_policy_is_never_answered_from_the_old_entry(
    mesh: Mesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    await mesh.ask("What is your return policy?")
    assert (await mesh.ask("What is your return policy?"))[1]["cache_hit"] is True
    monkeypatch.setitem(replies.DOCUMENTS["return_refund"], "en", ["Returns are accepted within 30 days."])
    _, done = await mesh.ask("What is your return policy?")
    assert done["cache_hit"] is False
    assert list(mesh.inference.prompts[-1].documents) == ["Returns are accepted within 30 days."]
    assert (await mesh.ask("What is your return policy?"))[1]["cache_hit"] is True  # the new answer
