"""IntentService over a real gRPC socket (in process, ephemeral port): the reply a caller sees."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mangaassist.common.grpc_client import open_channel
from mangaassist.intent.config import DEFAULT_MODEL_PATH, IntentSettings
from mangaassist.intent.model import IntentModel
from mangaassist.intent.server import build_app
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc

pytestmark = pytest.mark.integration


def _fusion_embedder() -> str:
    """The embedder the shipped model's fusion head was trained on (its artefact says)."""
    fusion = IntentModel.load(DEFAULT_MODEL_PATH).fusion
    assert fusion is not None
    return fusion.embedder


EMBEDDER = _fusion_embedder()


@functools.cache
def e5() -> Callable[[str], Any]:
    from mangaassist.devtools.e5 import query_embedder

    return query_embedder()


def with_embedding(text: str, **fields: Any) -> intent_pb2.ClassifyRequest:
    """The request as the orchestrator sends it: with retrieval's query embedding (e5-small)."""
    return intent_pb2.ClassifyRequest(
        text=text, query_embedding=[float(x) for x in e5()(text)], embedding_model=EMBEDDER, **fields
    )


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[tuple[intent_pb2_grpc.IntentServiceStub, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = build_app(IntentSettings(port=0, drain_grace_s=0.5), provider.get_tracer("test"))
    task = asyncio.create_task(app.run())
    channel = open_channel(f"127.0.0.1:{app.port}")
    yield intent_pb2_grpc.IntentServiceStub(channel), exporter
    await channel.close()
    app.request_stop()
    await task


async def test_reply_carries_scores_route_reason_and_entities(served) -> None:  # type: ignore[no-untyped-def]
    stub, exporter = served
    reply = await stub.Classify(with_embedding("2000円以下で英語版のホラー以外のファンタジーのおすすめは？"))
    assert reply.intent == "product_recommendation" and not reply.abstained and reply.classifier == "fusion"
    assert len(reply.scores) == 11 and reply.scores[0].intent == reply.intent
    assert sum(s.score for s in reply.scores) == pytest.approx(1.0, abs=1e-4)
    assert reply.routing.route == intent_pb2.ROUTE_SONNET and "multi_constraint" in reply.routing.features
    assert "multi_constraint" in reply.routing.reason
    e = reply.entities
    assert (e.max_price_jpy, e.language, list(e.genres), list(e.excluded_genres)) == (
        2000,
        "en",
        ["fantasy"],
        ["horror"],
    )
    assert reply.language == "ja" and reply.model_version.startswith("intent-linear-")
    assert not reply.explanation  # only on request
    span = next(s for s in exporter.get_finished_spans() if s.name == "intent-classification")
    assert span.attributes is not None
    assert span.attributes["routing.model"] == "sonnet" and span.attributes["routing.reason"] == reply.routing.reason
    assert "2000" not in str(dict(span.attributes))  # entity values stay off the span


async def test_order_status_needs_no_model_and_returns_the_order_id(served) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    reply = await stub.Classify(intent_pb2.ClassifyRequest(text="Where is my order MA-2024-00123?"))
    assert reply.intent == "order_status" and reply.routing.route == intent_pb2.ROUTE_NONE
    assert list(reply.entities.order_ids) == ["MA-2024-00123"]


async def test_uncertain_message_abstains_and_asks(served) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    reply = await stub.Classify(intent_pb2.ClassifyRequest(text="qwxz vbnm"))
    assert reply.abstained and reply.confidence < reply.threshold
    assert reply.routing.route == intent_pb2.ROUTE_NONE and "abstain" in reply.routing.features


async def test_explain_flag_returns_contributing_features(served) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    reply = await stub.Classify(intent_pb2.ClassifyRequest(text="返品したいです", explain=True))
    assert reply.intent == "return_refund"
    assert reply.explanation[0].feature == "lexicon:refund"
    assert len(reply.explanation) == 5
    assert all(f.weight > 0 for f in reply.explanation)


@pytest.mark.parametrize(
    "request_",
    [
        intent_pb2.ClassifyRequest(text="   "),
        intent_pb2.ClassifyRequest(text="x" * 5000),
        intent_pb2.ClassifyRequest(text="hi", language_hint="fr"),
        intent_pb2.ClassifyRequest(text="hi", context=intent_pb2.SessionContext(turn_count=-1)),
        intent_pb2.ClassifyRequest(text="hi", query_embedding=[0.1] * 7, embedding_model=EMBEDDER),
        intent_pb2.ClassifyRequest(text="hi", query_embedding=[float("nan")] * 384, embedding_model=EMBEDDER),
    ],
)
async def test_bad_input_is_invalid_argument(served, request_: intent_pb2.ClassifyRequest) -> None:  # type: ignore[no-untyped-def]
    stub, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Classify(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_shared_embedding_selects_the_fusion_head_and_a_foreign_one_the_text_head(served) -> None:  # type: ignore[no-untyped-def]
    stub, exporter = served
    text = "my copy of berserk 12 came with torn pages, i want a replacement"
    vector = [float(x) for x in e5()(text)]
    fused = await stub.Classify(
        intent_pb2.ClassifyRequest(text=text, query_embedding=vector, embedding_model=EMBEDDER, explain=True)
    )
    assert fused.classifier == "fusion" and fused.intent == "return_refund" and not fused.abstained
    assert any(f.feature == f"embedding:{EMBEDDER}" for f in fused.explanation)
    # A vector from another embedder (Titan in AWS) is not understood: the n-gram head answers.
    foreign = await stub.Classify(
        intent_pb2.ClassifyRequest(text=text, query_embedding=vector, embedding_model="amazon.titan-embed-text-v2:0")
    )
    plain = await stub.Classify(intent_pb2.ClassifyRequest(text=text))
    assert foreign.classifier == plain.classifier == "text"
    assert foreign.confidence == pytest.approx(plain.confidence)
    span = [s for s in exporter.get_finished_spans() if s.name == "intent-classification"][-3]
    assert span.attributes is not None and span.attributes["intent.classifier"] == "fusion"
