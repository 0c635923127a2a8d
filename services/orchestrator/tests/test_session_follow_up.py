"""A follow-up resolves against the state the previous answer left, even while that turn's
session write has not landed (store slow, failing or down). Unit test: in-memory fakes for the
gRPC stubs and a labelled in-memory session store that can be held or broken."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mangaassist.orchestrator.auth import Identity
from mangaassist.orchestrator.dialogue import STATE_VERSION
from mangaassist.orchestrator.pipeline import Downstreams, Pipeline
from mangaassist.orchestrator.sessions import InMemorySessionStore, Session, Turn
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2
from mangaassist.proto.intent.v1 import intent_pb2
from services.orchestrator.tests.test_pipeline_fallbacks import FakeRetrieval, pipeline_over

# Every search finds one Kingdom volume.
KINGDOM_1 = common_pb2.Product(asin="B1", series_id="kingdom", title="Kingdom 1", price_jpy=600, language="ja")


class Said:
    """A model stream of one word."""

    def cancel(self) -> bool:
        return True

    async def __aiter__(self) -> Any:
        yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text="ok"))
        yield inference_pb2.GenerateResponse(done=inference_pb2.GenerationDone(model="haiku", backend="fake"))


class SaysOk:
    def Generate(self, request: inference_pb2.GenerateRequest, **_: Any) -> Said:
        return Said()


class HeldStore(InMemorySessionStore):
    """In-memory fake: writes wait for ``release``; loads fail while ``down``."""

    def __init__(self) -> None:
        super().__init__(100, 60)
        self.release = asyncio.Event()
        self.down = False

    async def load(self, session_id: str) -> Session:
        if self.down:
            raise ConnectionError("store down")
        return await super().load(session_id)

    async def append(self, session_id: str, turn: Turn, base: Session | None = None) -> None:
        await self.release.wait()
        await super().append(session_id, turn, base)


class FocusingIntent:
    """The first turn puts Kingdom in focus; every turn records the state it was given."""

    def __init__(self) -> None:
        self.seen: list[common_pb2.DialogueState] = []

    async def Classify(self, request: intent_pb2.ClassifyRequest, **_: Any) -> intent_pb2.ClassifyResponse:
        self.seen.append(request.state)
        state = common_pb2.DialogueState(version=STATE_VERSION, intent="product_search")
        state.focus.series_id = "kingdom"
        return intent_pb2.ClassifyResponse(
            intent="product_search",
            confidence=0.9,
            language="en",
            routing=intent_pb2.RoutingDecision(route=intent_pb2.ROUTE_HAIKU, reason="test"),
            resolved=intent_pb2.ResolvedRequest(action="search", state=state),
        )


async def ask(pipeline: Pipeline, text: str, session_id: str | None) -> dict[str, Any]:
    frames: list[dict[str, Any]] = []

    async def emit(frame: dict[str, Any]) -> None:
        frames.append(json.loads(json.dumps(frame)))

    frame: dict[str, Any] = {"type": "query", "text": text, "request_id": f"r{len(text)}"}
    if session_id is not None:
        frame["session_id"] = session_id
    await pipeline.handle(frame, 0.0, emit, Identity())
    return frames[-1]


def pipeline_with(store: HeldStore, intent: FocusingIntent) -> Pipeline:
    downstreams = Downstreams(intent=intent, retrieval=FakeRetrieval(KINGDOM_1), inference=SaysOk())  # type: ignore[arg-type]
    return pipeline_over(downstreams, store=store, session_timeout_s=0.05)


async def test_a_follow_up_sees_the_previous_state_while_its_write_is_held() -> None:
    store, intent = HeldStore(), FocusingIntent()
    pipeline = pipeline_with(store, intent)
    first = await ask(pipeline, "Do you have Kingdom?", None)
    assert first["type"] == "done", first
    second = await ask(pipeline, "how many volumes are out?", first["session_id"])
    assert second["type"] == "done"
    assert intent.seen[1].focus.series_id == "kingdom"  # the write is still held
    store.release.set()
    await pipeline.post.drain(1.0)
    stored = await store.load(first["session_id"])
    assert len(stored.intents) == 2


async def test_a_follow_up_sees_the_previous_state_while_the_store_is_down() -> None:
    store, intent = HeldStore(), FocusingIntent()
    pipeline = pipeline_with(store, intent)
    first = await ask(pipeline, "Do you have Kingdom?", None)
    store.down = True
    second = await ask(pipeline, "and in English?", first["session_id"])
    assert second["type"] == "done"
    assert intent.seen[1].focus.series_id == "kingdom"
    store.down = False
    store.release.set()
    await pipeline.post.drain(1.0)
