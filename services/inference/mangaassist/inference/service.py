"""InferenceService servicer: stream chunks from the backend, then usage and timings."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from opentelemetry import trace

from mangaassist.common.errors import invalid_argument
from mangaassist.inference.backend import MODELS, Finished, FoundationModel
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self, backend: FoundationModel, default_max_tokens: int, max_tokens_limit: int) -> None:
        self._backend = backend
        self._default_max = default_max_tokens
        self._limit = max_tokens_limit

    async def Generate(
        self, request: inference_pb2.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[inference_pb2.GenerateResponse]:
        if request.model not in MODELS:
            raise invalid_argument(f"model must be one of {sorted(MODELS)}")
        if not request.prompt.question.strip():
            raise invalid_argument("prompt.question must not be empty")
        if request.max_tokens < 0 or request.max_tokens > self._limit:
            raise invalid_argument(f"max_tokens must be between 1 and {self._limit}")
        max_tokens = request.max_tokens or self._default_max

        span = trace.get_current_span()
        span.set_attribute("gen_ai.request.model", request.model)
        start = time.perf_counter()
        first: float | None = None
        async for event in self._backend.stream(request.model, request.prompt, max_tokens):
            if isinstance(event, Finished):
                ttft = ((first or time.perf_counter()) - start) * 1000
                span.set_attribute("gen_ai.usage.input_tokens", event.input_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", event.output_tokens)
                yield inference_pb2.GenerateResponse(
                    done=inference_pb2.GenerationDone(
                        usage=inference_pb2.Usage(
                            input_tokens=event.input_tokens, output_tokens=event.output_tokens
                        ),
                        finish_reason=event.finish_reason,
                        model=event.model,
                        backend=self._backend.name,
                        time_to_first_token_ms=ttft,
                    )
                )
                return
            if first is None:
                first = time.perf_counter()
            yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text=event))
