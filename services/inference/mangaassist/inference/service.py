"""InferenceService servicer: guard the input, stream from the model, fall back, price, check the output.

Per request: the input check masks PII and refuses prompt injection without calling the
model; the prompt is rendered minimally; tokens stream out as the backend yields them, the
first at once and the ones queued behind it coalesced into fewer messages (``common.coalesce``).
If Sonnet is throttled, unavailable or times out before its first token, Haiku answers
and ``GenerationDone`` records it. A stream that breaks after tokens were sent is never
finished here: the RPC ends with UNAVAILABLE, and the orchestrator may resume the answer with
a new request carrying the text already sent (``assistant_prefix``): the model continues it
as an assistant prefill and only the continuation streams back; the guardrails see the whole
answer, prefix included. The output guardrail runs on the complete answer after
``GenerationDone`` (async mode, off the streaming path) or on chunks before release
(sync mode).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import trace

from mangaassist.common.coalesce import coalesce
from mangaassist.common.errors import ServiceError, invalid_argument
from mangaassist.inference import guardrails
from mangaassist.inference.backend import (
    MODELS,
    Finished,
    FoundationModel,
    ModelError,
    ModelStreamBroken,
    ModelThrottled,
    ModelTimeout,
    ModelUnavailable,
)
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.prompt import continuing, render, skip_sent_whitespace
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc

logger = logging.getLogger(__name__)

# The longest answer start a resumed request may carry (far above any answer's length).
MAX_PREFIX_CHARS = 64_000

# (flagged, categories) for a complete answer.
OutputCheck = Callable[[str], Awaitable[tuple[bool, list[str]]]]


async def local_output_check(text: str) -> tuple[bool, list[str]]:
    verdict = guardrails.check_output(text)
    return bool(verdict.categories), verdict.categories


def error_status(exc: ModelError) -> ServiceError:
    """The one place model failures become gRPC status codes."""
    if isinstance(exc, ModelThrottled):
        return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "the model is throttled")
    if isinstance(exc, ModelTimeout):
        return ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, "the model did not answer in time")
    if isinstance(exc, ModelStreamBroken):
        return ServiceError(grpc.StatusCode.UNAVAILABLE, "the model stream was interrupted")
    if isinstance(exc, ModelUnavailable):
        return ServiceError(grpc.StatusCode.UNAVAILABLE, "the model is unavailable")
    return ServiceError(grpc.StatusCode.INTERNAL, "the model call failed")


def fallback_reason(exc: ModelError) -> str:
    for kind, name in (
        (ModelThrottled, "throttled"),
        (ModelTimeout, "timeout"),
        (ModelStreamBroken, "stream_broken"),
        (ModelUnavailable, "unavailable"),
    ):
        if isinstance(exc, kind):
            return name
    return "error"


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self, backend: FoundationModel, settings: InferenceSettings, output_check: OutputCheck) -> None:
        self._backend = backend
        self._s = settings
        self._check = output_check
        self.counters: Counter[str] = Counter()  # guardrail and fallback outcomes, for logs and tests

    def cost_usd(self, model: str, input_tokens: int, output_tokens: int) -> float:
        price_in, price_out = self._s.pricing_usd_per_1k.get(model, (0.0, 0.0))
        return round(input_tokens / 1000 * price_in + output_tokens / 1000 * price_out, 8)

    def _validate(self, request: inference_pb2.GenerateRequest) -> int:
        if request.model not in MODELS:
            raise invalid_argument(f"model must be one of {sorted(MODELS)}")
        if not request.prompt.question.strip():
            raise invalid_argument("prompt.question must not be empty")
        if request.max_tokens < 0 or request.max_tokens > self._s.max_tokens_limit:
            raise invalid_argument(f"max_tokens must be between 1 and {self._s.max_tokens_limit}")
        if len(request.assistant_prefix) > MAX_PREFIX_CHARS:
            raise invalid_argument(f"assistant_prefix must be at most {MAX_PREFIX_CHARS} characters")
        return request.max_tokens or self._s.default_max_tokens

    async def Generate(
        self, request: inference_pb2.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[inference_pb2.GenerateResponse]:
        max_tokens = self._validate(request)
        span = trace.get_current_span()
        span.set_attribute("gen_ai.request.model", request.model)
        start = time.perf_counter()
        language = "ja" if request.prompt.language == "ja" else "en"

        # Input guardrail: mask PII everywhere the customer's words go; refuse injection.
        prompt = inference_pb2.PromptParts()
        prompt.CopyFrom(request.prompt)
        checked = guardrails.check_input(prompt.question)
        prompt.question = checked.text
        for turn in prompt.history:
            turn.text = guardrails.mask_pii(turn.text)[0] if turn.role == "user" else turn.text
        if checked.categories:
            self.counters["input_flagged"] += 1
            span.set_attribute("guardrail.input", ",".join(checked.categories))
            logger.info("input guardrail", extra={"categories": checked.categories})
        if checked.injection:
            text = guardrails.REFUSAL[language]
            yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text=text))
            yield inference_pb2.GenerateResponse(
                done=inference_pb2.GenerationDone(
                    usage=inference_pb2.Usage(),
                    finish_reason="guardrail_intervened",
                    model=request.model,
                    backend="guardrail",
                    time_to_first_token_ms=(time.perf_counter() - start) * 1000,
                    input_guardrail=checked.categories,
                )
            )
            return

        conversation = render(prompt, self._s.history_token_budget)
        # A resumed answer: the customer has ``sent``; the model continues it (assistant prefill).
        sent = request.assistant_prefix
        sent_whitespace = ""
        if sent:
            conversation, sent_whitespace = continuing(conversation, sent)
            span.set_attribute("mangaassist.resumed_after_chars", len(sent))
        models = [request.model]
        if request.model == "sonnet" and self._s.fallback_to_haiku:
            models.append("haiku")
        first: float | None = None
        pieces: list[str] = []
        fallback_from = reason = ""
        finished: Finished | None = None
        sync = self._s.output_guardrail == "sync"
        pending = ""  # sync mode: text held back until checked
        # Sync mode checks every ``sync_guardrail_chars``: a coalesced delta must not be larger,
        # or a flag would withhold clean text that came before the flagged part.
        max_chars = (
            min(self._s.stream_coalesce_chars, self._s.sync_guardrail_chars) if sync else self._s.stream_coalesce_chars
        )
        withheld = False
        for attempt, model in enumerate(models):
            stream = self._backend.stream(model, conversation, max_tokens, fail_fast=attempt < len(models) - 1)
            # The first delta leaves at once; the ones behind it leave together (per-message cost).
            events = coalesce(stream, self._s.stream_coalesce_ms / 1000, max_chars)
            unmatched = sent_whitespace
            try:
                async for event in events:
                    if isinstance(event, Finished):
                        finished = event
                        break
                    if unmatched:
                        event, unmatched = skip_sent_whitespace(event, unmatched)
                        if not event:
                            continue
                    if sync:
                        pending += event
                        if len(pending) < self._s.sync_guardrail_chars:
                            continue
                        flagged, categories = await self._check(sent + "".join(pieces) + pending)
                        if flagged:
                            withheld = True
                            self._flagged(categories, "sync")
                            break
                        event, pending = pending, ""
                    if first is None:
                        first = time.perf_counter()
                    pieces.append(event)
                    yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text=event))
                if finished is None and not withheld:
                    raise ModelStreamBroken("the backend stream ended without a final event")
                break
            except ModelError as exc:
                if pieces or not exc.retry_elsewhere or attempt == len(models) - 1:
                    self.counters["failed"] += 1
                    logger.warning(
                        "model call failed", extra={"model": model, "error": str(exc), "tokens_sent": len(pieces)}
                    )
                    raise error_status(exc) from None
                fallback_from, reason = model, fallback_reason(exc)
                self.counters["fallback"] += 1
                span.set_attribute("gen_ai.fallback_from", model)
                logger.warning("falling back", extra={"from": model, "to": models[attempt + 1], "reason": reason})
            finally:
                await events.aclose()
                await stream.aclose()
        if sync and not withheld and pending:
            flagged, categories = await self._check(sent + "".join(pieces) + pending)
            if flagged:
                withheld = True
                self._flagged(categories, "sync")
            else:
                first = first or time.perf_counter()
                pieces.append(pending)
                yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text=pending))
        if withheld:
            first = first or time.perf_counter()
            yield inference_pb2.GenerateResponse(token=inference_pb2.TokenChunk(text=guardrails.WITHHELD[language]))

        answered_by = finished.model if finished else models[-1 if fallback_from else 0]
        input_tokens = finished.input_tokens if finished else 0
        output_tokens = finished.output_tokens if finished else len(pieces)
        ttft = ((first or time.perf_counter()) - start) * 1000
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        span.set_attribute("gen_ai.response.model", answered_by)
        yield inference_pb2.GenerateResponse(
            done=inference_pb2.GenerationDone(
                usage=inference_pb2.Usage(
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cost_usd=self.cost_usd(answered_by, input_tokens, output_tokens),
                ),
                finish_reason="guardrail_intervened" if withheld else (finished.finish_reason if finished else ""),
                model=answered_by,
                backend=self._backend.name,
                time_to_first_token_ms=ttft,
                fallback_from=fallback_from,
                fallback_reason=reason,
                prompt_bytes=conversation.size_bytes,
                input_guardrail=checked.categories,
            )
        )
        if self._s.output_guardrail == "async":
            yield await self._verdict(sent + "".join(pieces))

    async def _verdict(self, answer: str) -> inference_pb2.GenerateResponse:
        """The output check on the complete answer, after it has been streamed."""
        started = time.perf_counter()
        try:
            flagged, categories = await self._check(answer)
        except (TimeoutError, ModelError) as exc:
            # A failed check must not turn a delivered answer into an error; it is logged.
            self.counters["output_check_failed"] += 1
            logger.warning("output guardrail failed", extra={"error": str(exc)})
            flagged, categories = False, ["check_failed"]
        if flagged:
            self._flagged(categories, "async")
        else:
            self.counters["output_passed"] += 1
        return inference_pb2.GenerateResponse(
            guardrail=inference_pb2.GuardrailVerdict(
                flagged=flagged,
                categories=categories,
                engine=self._s.output_engine,
                check_ms=(time.perf_counter() - started) * 1000,
            )
        )

    def _flagged(self, categories: list[str], mode: str) -> None:
        self.counters["output_flagged"] += 1
        trace.get_current_span().set_attribute("guardrail.output", ",".join(categories))
        logger.warning("output guardrail flagged an answer", extra={"categories": categories, "mode": mode})
