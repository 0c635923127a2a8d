"""The pipeline's fallbacks and breakers, with in-memory fake downstreams (unit test).

Fakes stand in for the gRPC stubs only; the pipeline, guards and session store are real.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from opentelemetry.sdk.trace import TracerProvider

from mangaassist.orchestrator.auth import Identity
from mangaassist.orchestrator.cache import SemanticCache
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.guards import Guards
from mangaassist.orchestrator.pipeline import Downstreams, Pipeline
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.sessions import InMemorySessionStore, SessionStore
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2
from mangaassist.proto.intent.v1 import intent_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2


def unavailable() -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")


class FakeIntent:
    def __init__(self) -> None:
        self.delay_s = 0.0

    async def Classify(self, request: Any, **_: Any) -> intent_pb2.ClassifyResponse:
        await asyncio.sleep(self.delay_s)
        return intent_pb2.ClassifyResponse(
            intent="product_recommendation",
            confidence=0.9,
            language="en",
            routing=intent_pb2.RoutingDecision(route=intent_pb2.ROUTE_SONNET, reason="test"),
        )


class FakeRetrieval:
    """Retrieval stand-in: every search finds ``product`` (by default one English book "X")."""

    def __init__(self, product: common_pb2.Product | None = None) -> None:
        self.product = product or common_pb2.Product(asin="B0X", series_id="x", title="X", price_jpy=500, language="en")

    async def Embed(self, request: Any, **_: Any) -> retrieval_pb2.EmbedResponse:
        return retrieval_pb2.EmbedResponse(embedding=[0.1] * 4)

    async def Search(self, request: Any, **_: Any) -> retrieval_pb2.SearchResponse:
        return retrieval_pb2.SearchResponse(results=[retrieval_pb2.ScoredProduct(product=self.product, score=0.9)])


class FakeCall:
    def __init__(self, model: str, sonnet_down: bool, hang: bool = False, stall: bool = False) -> None:
        self.model = model
        self.sonnet_down = sonnet_down
        self.hang = hang
        self.stall = stall

    def cancel(self) -> bool:
        return True

    async def __aiter__(self) -> AsyncIterator[inference_pb2.GenerateResponse]:
        if self.model == "sonnet" and self.sonnet_down:
            raise unavailable()
        if self.hang:  # a model that never starts answering
            await asyncio.Event().wait()
        yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text="hi"))
        if self.stall:  # a model (or service) stopped in the middle of its answer
            await asyncio.Event().wait()
        yield inference_pb2.GenerateResponse(done=inference_pb2.GenerationDone(model=self.model, backend="fake"))


class FakeInference:
    def __init__(self) -> None:
        self.sonnet_down = True
        self.hang = False
        self.stall = False
        self.calls: list[str] = []

    def Generate(self, request: inference_pb2.GenerateRequest, **_: Any) -> FakeCall:
        self.calls.append(request.model)
        return FakeCall(request.model, self.sonnet_down, self.hang, self.stall)


@functools.cache
def _memory_settings() -> OrchestratorSettings:
    """The default settings, built once: each build reads the environment (~10 ms), and the
    schema fuzz builds a pipeline per generated frame. Settings are frozen, so sharing is safe."""
    return OrchestratorSettings(session_backend="memory")


# A provider with no exporter: the pipeline's spans go nowhere, whichever pipeline makes them.
_TRACER = TracerProvider().get_tracer("t")


def pipeline_over(
    downstreams: Downstreams,
    cache: SemanticCache | None = None,
    store: SessionStore | None = None,
    **settings: Any,
) -> Pipeline:
    """A pipeline over fake downstreams: sessions in memory (or ``store``), no order store, default guards."""
    return Pipeline(
        OrchestratorSettings(session_backend="memory", **settings) if settings else _memory_settings(),
        downstreams,
        InMemorySessionStore(100, 60) if store is None else store,
        None,
        _TRACER,
        PostProcessor(),
        Guards(),
        cache,
    )


def make_pipeline(intent: FakeIntent | None = None, **settings: Any) -> tuple[Pipeline, FakeInference]:
    inference = FakeInference()
    downstreams = Downstreams(intent=intent or FakeIntent(), retrieval=FakeRetrieval(), inference=inference)  # type: ignore[arg-type]
    return pipeline_over(downstreams, **settings), inference


async def frames_of(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every frame one "recommend" query gets, once its after-answer work has run."""
    frames: list[dict[str, Any]] = []

    async def emit(frame: dict[str, Any]) -> None:
        frames.append(json.loads(json.dumps(frame)))

    await pipeline.handle({"type": "query", "text": "recommend", "request_id": "r1"}, 0.0, emit, Identity())
    await pipeline.post.drain(1.0)
    return frames


async def run(pipeline: Pipeline, n: int) -> dict[str, Any]:
    frames: list[dict[str, Any]] = []

    async def emit(frame: dict[str, Any]) -> None:
        frames.append(json.loads(json.dumps(frame)))

    await pipeline.handle({"type": "query", "text": "recommend", "request_id": f"r{n}"}, 0.0, emit, Identity())
    return frames[-1]


async def test_sonnet_down_is_answered_by_haiku_and_its_breaker_opens() -> None:
    pipeline, inference = make_pipeline()
    results = [await run(pipeline, n) for n in range(12)]
    assert all(r["type"] == "done" and r["model"] == "haiku" for r in results)
    assert all(r["fallbacks"] == ["model:sonnet->haiku"] for r in results)
    # After 5 failures the Sonnet breaker is open: later requests skip Sonnet without a call.
    assert inference.calls.count("sonnet") == 5
    assert pipeline.guards["inference:sonnet"].breaker.state == "open"
    await pipeline.post.drain(1.0)


async def test_sonnet_recovered_is_used_again_after_the_cooldown() -> None:
    pipeline, inference = make_pipeline()
    for n in range(5):
        await run(pipeline, n)
    breaker = pipeline.guards["inference:sonnet"].breaker
    assert breaker.state == "open"
    inference.sonnet_down = False
    breaker._opened_at -= breaker.config.cooldown_s  # the cooldown has passed
    results = [await run(pipeline, n) for n in range(3)]
    assert [r["model"] for r in results] == ["sonnet"] * 3 and breaker.state == "closed"
    await pipeline.post.drain(1.0)


async def test_a_model_timeout_caused_by_a_late_start_does_not_open_the_model_breaker() -> None:
    """Overload upstream (here: a slow classification) leaves the model call little of the
    first-token budget; its timeouts fail those requests but must not trip the breaker."""
    intent = FakeIntent()
    intent.delay_s = 0.17  # of a 0.2 s first-token budget
    pipeline, inference = make_pipeline(intent, first_token_budget_s=0.2)
    inference.sonnet_down, inference.hang = False, True
    results = [await run(pipeline, n) for n in range(7)]
    assert [(r["type"], r["code"]) for r in results] == [("error", "timeout")] * 7
    assert pipeline.guards["inference:sonnet"].breaker.state == "closed"
    assert pipeline.guards["inference:sonnet"].breaker.stats.failures == 0
    await pipeline.post.drain(1.0)


async def test_a_model_that_times_out_with_its_full_share_of_the_budget_opens_its_breaker() -> None:
    pipeline, inference = make_pipeline(first_token_budget_s=0.2)
    inference.sonnet_down, inference.hang = False, True
    results = [await run(pipeline, n) for n in range(6)]
    assert all(r["type"] == "error" and r["code"] == "timeout" for r in results)
    assert pipeline.guards["inference:sonnet"].breaker.state == "open"
    await pipeline.post.drain(1.0)


async def test_a_stream_that_stalls_after_its_first_token_ends_stream_interrupted() -> None:
    """Tokens were sent, then nothing: the answer ends with its terminal error frame instead of
    holding the question until the request timeout."""
    pipeline, inference = make_pipeline(stream_idle_timeout_s=0.05)
    inference.sonnet_down, inference.stall = False, True
    result = await run(pipeline, 0)
    assert (result["type"], result["code"]) == ("error", "stream_interrupted")
    assert inference.calls == ["sonnet"]  # no fallback once the customer has seen tokens
    await pipeline.post.drain(1.0)
