"""The answer: a fixed reply (route ``none``: a question back, order status from the orders
table) or the model's streamed answer, with Sonnet → Haiku fallback before the first token,
one resume of a stream that broke after it (decision 0004), and the output guardrail's
verdict relayed after ``done``."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import trace

from mangaassist.common import spans
from mangaassist.common.resilience import BreakerOpenError, BulkheadFullError
from mangaassist.common.telemetry import outgoing_metadata
from mangaassist.orchestrator.cache import privacy
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dynamo import OrderStore
from mangaassist.orchestrator.guards import Guards
from mangaassist.orchestrator.replies import clarify_series_reply, documents_for, fixed_reply, order_reply
from mangaassist.orchestrator.schema import ErrorCode, RequestError
from mangaassist.orchestrator.sessions import Session
from mangaassist.orchestrator.stages.base import Downstreams, Emit, Request, rejected, rpc_error
from mangaassist.orchestrator.stages.catalog import prompt_product
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2
from mangaassist.proto.intent.v1 import intent_pb2

logger = logging.getLogger(__name__)

SONNET_BUDGET_SHARE = 0.6
# Failures before the first token after which Sonnet's request is retried on Haiku.
FALLBACK_CODES = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL})
SYSTEM_PROMPT = (
    "You are MangaAssist, the shopping assistant of a Japanese manga store. Answer in the "
    "customer's language, only from the products and store documents provided; never invent "
    "titles, prices or stock. Keep answers short."
)


class StreamBroken(RequestError):
    """The answer's stream failed after text reached the customer (the inference replica
    died, the model stream was cut): the answer may be continued from that text."""


@dataclass(eq=False)
class Responder:
    """Writes the answer: deterministic, or streamed from the model."""

    settings: OrchestratorSettings
    downstreams: Downstreams
    orders: OrderStore | None
    guards: Guards

    async def deterministic(
        self, req: Request, classified: intent_pb2.ClassifyResponse, language: str, products: list[common_pb2.Product]
    ) -> str:
        """Route ``none``: fixed replies, a question back by name, and order status straight
        from the orders table (the order id as the intent service extracted it)."""
        if classified.resolved.action == "clarify_series" and products:
            return clarify_series_reply([p.title for p in products], language)
        order_id = classified.entities.order_ids[0] if classified.entities.order_ids else None
        if classified.intent == "order_status" and order_id and not classified.abstained and self.orders:
            with req.seg.segment("dynamodb-order-lookup"):
                try:
                    orders = self.orders
                    order = await self.guards["dynamodb"].run(
                        lambda: asyncio.wait_for(
                            orders.get_for_customer(order_id, req.identity.customer_id),
                            req.remaining(self.settings.session_timeout_s),
                        ),
                        req.squeezed(self.settings.session_timeout_s),
                    )
                except TimeoutError:
                    raise RequestError(ErrorCode.TIMEOUT, "the order lookup did not answer in time") from None
                except Exception:
                    raise RequestError(
                        ErrorCode.UNAVAILABLE, "order lookup is unavailable; try again shortly"
                    ) from None
            if order is not None:
                return order_reply(order, language)
        return fixed_reply(classified.intent, language, order_id, classified.abstained, classified.resolved.action)

    async def generate(
        self,
        req: Request,
        session: Session,
        classified: intent_pb2.ClassifyResponse,
        products: list[common_pb2.Product],
        model: str,
        done: dict[str, Any],
    ) -> tuple[str, privacy.PromptContext]:
        """Stream the model's answer; returns it with what its prompt was built from."""
        seg = req.seg
        with seg.segment(spans.PROMPT_ASSEMBLY) as prompt_span:
            history = privacy.prompt_history(classified.intent, session.turns, self.settings.history_turns)
            request = inference_pb2.GenerateRequest(
                model=model,
                prompt=inference_pb2.PromptParts(
                    system=SYSTEM_PROMPT,
                    history=[common_pb2.Turn(role=r, text=t) for r, t in history],
                    products=[prompt_product(p) for p in products],
                    question=req.frame.text,
                    documents=documents_for(classified.intent, classified.language),
                    language=classified.language or "en",
                    intent=classified.intent,
                    not_carried=classified.resolved.not_carried,
                ),
            )
            context = privacy.prompt_context(request.prompt)
            prompt_span.set_attribute("prompt.customer_specific", list(context.personal))
        pieces: list[str] = []
        with seg.segment(spans.BEDROCK_INVOKE, {"gen_ai.request.model": model}) as span:
            try:
                final, call = await self.resuming(req, request, pieces, done)
            except RequestError as exc:
                # Sonnet failing before its first token → Haiku (the Bedrock fallback, decision 0008).
                if model != "sonnet" or pieces or exc.code not in FALLBACK_CODES:
                    raise
                req.fallbacks.append("model:sonnet->haiku")
                span.set_attribute("fallback", "sonnet->haiku")
                request.model = model = "haiku"
                final, call = await self.resuming(req, request, pieces, done)
            span.set_attribute("gen_ai.usage.input_tokens", final.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", final.usage.output_tokens)
        seg.timings_ms[spans.MODEL_INFERENCE] = round(final.time_to_first_token_ms, 3)
        done["model"] = final.model or model
        done["backend"] = final.backend
        done["finish_reason"] = final.finish_reason
        done["usage"] = {
            "input_tokens": final.usage.input_tokens,
            "output_tokens": final.usage.output_tokens,
            "cost_usd": final.usage.cost_usd,
        }
        # Inference issue: a fallback inside the inference service is recorded; the output
        # guardrail's verdict on the already-streamed answer arrives after `done` and
        # becomes a `guardrail` frame when it flags the answer.
        done["fallback"] = (
            {"from": final.fallback_from, "to": final.model, "reason": final.fallback_reason}
            if final.fallback_from
            else None
        )
        if final.fallback_from:
            req.fallbacks.append(f"model:{final.fallback_from}->{final.model}")
        request_id = done["request_id"]

        async def guardrail_followup(emit: Emit) -> bool:
            """Relay the output guardrail's verdict; True when it flagged the answer."""
            flagged = False
            try:
                async for message in call:
                    if message.HasField("guardrail") and message.guardrail.flagged:
                        flagged = True
                        logger.warning(
                            "answer flagged after streaming", extra={"categories": list(message.guardrail.categories)}
                        )
                        await emit(
                            {
                                "type": "guardrail",
                                "request_id": request_id,
                                "action": "flagged",
                                "categories": list(message.guardrail.categories),
                                "engine": message.guardrail.engine,
                            }
                        )
            except grpc.aio.AioRpcError:
                pass  # the verdict is advisory; the answer was already delivered
            except Exception as exc:  # e.g. the client went away before the verdict
                logger.info("guardrail frame not delivered", extra={"error": type(exc).__name__})
            finally:
                call.cancel()
            return flagged

        done["_followup"] = guardrail_followup
        return "".join(pieces), context

    async def resuming(
        self, req: Request, request: inference_pb2.GenerateRequest, pieces: list[str], done: dict[str, Any]
    ) -> tuple[inference_pb2.GenerationDone, Any]:
        """One answer stream; if it breaks after text reached the customer, one more request
        carries that text (``assistant_prefix``) and the model continues it, on whichever
        replica the channel picks (a dead one has left its rotation), within the answer's
        deadline. The customer's stream carries on with nothing repeated or lost; a second
        break ends it ``stream_interrupted``. Returns what ``stream`` returns."""
        try:
            return await self.stream(req, request, pieces)
        except StreamBroken as exc:
            if not self.settings.resume_broken_streams:
                raise
            sent = "".join(pieces)
            logger.warning("answer stream broke; resuming it", extra={"after_chars": len(sent), "error": exc.message})
        resumed = inference_pb2.GenerateRequest()
        resumed.CopyFrom(request)
        resumed.assistant_prefix = sent
        trace.get_current_span().set_attribute("gen_ai.resumed_after_chars", len(sent))
        done["resumed"] = True
        return await self.stream(req, resumed, pieces)

    async def stream(
        self, req: Request, request: inference_pb2.GenerateRequest, pieces: list[str]
    ) -> tuple[inference_pb2.GenerationDone, Any]:
        """Relay one Generate stream to the client; returns its final message and the call,
        still open for the output guardrail's verdict that follows ``done``."""
        stream_start: float | None = None
        final: inference_pb2.GenerationDone | None = None
        # Sonnet may use only part of the first-token budget, leaving Haiku time to step in.
        share = SONNET_BUDGET_SHARE if request.model == "sonnet" else 1.0
        squeezed = req.squeezed(self.settings.first_token_budget_s * share)
        try:
            async with self.guards[f"inference:{request.model}"].call(squeezed):
                call = self.downstreams.inference.Generate(
                    request, timeout=req.stream_remaining(), metadata=outgoing_metadata()
                )
                try:
                    iterator = call.__aiter__()
                    while True:
                        # Before the first token the first-token budget; after it, a stream that
                        # goes quiet (a stalled model or service) ends instead of holding the answer.
                        wait = (
                            req.remaining(self.settings.first_token_budget_s) * share
                            if stream_start is None
                            else min(self.settings.stream_idle_timeout_s, req.stream_remaining())
                        )
                        try:
                            # asyncio.timeout, not wait_for: no task per message.
                            async with asyncio.timeout(wait):
                                message = await anext(iterator)
                        except StopAsyncIteration:
                            break
                        except TimeoutError:
                            if stream_start is not None:
                                raise RequestError(ErrorCode.STREAM_INTERRUPTED, "the answer stream stalled") from None
                            raise RequestError(ErrorCode.TIMEOUT, "the model did not start answering in time") from None
                        if message.HasField("token"):
                            if stream_start is None:
                                stream_start = time.perf_counter()
                                req.streaming = True
                            pieces.append(message.token.text)
                            await req.send_token(message.token.text)
                        elif message.HasField("done"):
                            final = message.done
                            break  # the output guardrail's verdict follows off the critical path
                except grpc.aio.AioRpcError as exc:
                    call.cancel()
                    error = rpc_error(exc, "inference")
                    if pieces and exc.code() == grpc.StatusCode.UNAVAILABLE:
                        raise StreamBroken(error.code, error.message) from None
                    raise error from None
                except BaseException:
                    call.cancel()
                    raise
                if final is None:
                    raise (StreamBroken if pieces else RequestError)(
                        ErrorCode.STREAM_INTERRUPTED, "the answer stream ended early"
                    )
        except (BreakerOpenError, BulkheadFullError) as exc:
            raise rejected(exc, "inference") from None
        return final, call
