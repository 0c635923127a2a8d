"""A model stream that breaks after text reached the customer is resumed once from that text
(unit test: the real pipeline, fake downstream stubs).

The fake model answers like the emulator: given an ``assistant_prefix`` that starts its
answer, it streams only the rest, so the customer's text is whole exactly when nothing was
repeated or lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from mangaassist.orchestrator.pipeline import Pipeline
from mangaassist.proto.inference.v1 import inference_pb2
from services.orchestrator.tests.test_pipeline_fallbacks import frames_of, make_pipeline, unavailable

ANSWER = ["Here", " are", " some", " picks:", "\n1.", " Berserk", "\n2.", " Vinland", " Saga", "."]
WHOLE = "".join(ANSWER)


class BreakingCall:
    def __init__(self, pieces: list[str], break_after: int | None) -> None:
        self.pieces = pieces
        self.break_after = break_after

    def cancel(self) -> bool:
        return True

    async def __aiter__(self) -> AsyncIterator[inference_pb2.GenerateResponse]:
        for i, piece in enumerate(self.pieces):
            if self.break_after is not None and i >= self.break_after:
                raise unavailable()  # the replica died mid-answer
            yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text=piece))
        yield inference_pb2.GenerateResponse(done=inference_pb2.GenerationDone(model="haiku", backend="fake"))


class BreakingModel:
    """Breaks the n-th call after ``break_after[n]`` tokens (None: answers in full)."""

    def __init__(self, *break_after: int | None) -> None:
        self.break_after = list(break_after)
        self.prefixes: list[str] = []

    def Generate(self, request: inference_pb2.GenerateRequest, **_: Any) -> BreakingCall:
        self.prefixes.append(request.assistant_prefix)
        assert WHOLE.startswith(request.assistant_prefix)
        # The prefix ends where a delta did: stream the deltas after it.
        sent = next(k for k in range(len(ANSWER) + 1) if "".join(ANSWER[:k]) == request.assistant_prefix)
        n = len(self.prefixes) - 1
        return BreakingCall(ANSWER[sent:], self.break_after[n] if n < len(self.break_after) else None)


def with_model(model: BreakingModel, **settings: Any) -> Pipeline:
    pipeline, inference = make_pipeline(**settings)
    inference.Generate = model.Generate  # type: ignore[method-assign]
    return pipeline


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "token")


async def test_a_break_after_text_was_sent_is_resumed_from_that_text_with_nothing_repeated_or_lost() -> None:
    model = BreakingModel(4)
    frames = await frames_of(with_model(model))
    done = next(f for f in frames if f["type"] == "done")
    assert text_of(frames) == WHOLE
    assert done["resumed"] is True and "fallbacks" not in done
    assert model.prefixes == ["", "".join(ANSWER[:4])]


async def test_only_one_resume_per_answer() -> None:
    model = BreakingModel(4, 2)
    frames = await frames_of(with_model(model))
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "stream_interrupted"
    assert text_of(frames) == "".join(ANSWER[:6])  # the start and the resumed part, nothing after
    assert len(model.prefixes) == 2


async def test_resuming_can_be_turned_off() -> None:
    model = BreakingModel(4)
    frames = await frames_of(with_model(model, resume_broken_streams=False))
    assert frames[-1]["code"] == "stream_interrupted" and text_of(frames) == "".join(ANSWER[:4])
    assert model.prefixes == [""]


async def test_an_unbroken_answer_is_asked_for_once() -> None:
    model = BreakingModel(None)
    frames = await frames_of(with_model(model))
    assert text_of(frames) == WHOLE and "resumed" not in frames[-1]
    assert model.prefixes == [""]
