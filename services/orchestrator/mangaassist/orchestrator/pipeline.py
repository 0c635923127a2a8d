"""The per-query pipeline: validate → {session → classify, vector search} → stream → done.

Critical path: the session load and the classification run while retrieval embeds and
searches, so the slowest branch (retrieval) sets the pace. Work that the customer does
not wait for (the session update) runs after the ``done`` frame, as a tracked
background task that drain waits for, so nothing is lost on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry import trace
from opentelemetry.trace import Tracer
from pydantic import ValidationError

from mangaassist.common import spans
from mangaassist.common.telemetry import outgoing_metadata
from mangaassist.common.vocabulary import PRODUCT_INTENTS
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.replies import documents_for, fixed_reply
from mangaassist.orchestrator.schema import (
    ErrorCode,
    QueryFrame,
    RequestError,
    describe_validation_error,
    error_frame,
)
from mangaassist.orchestrator.segments import Segments
from mangaassist.orchestrator.sessions import Session, SessionStore
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

logger = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], Awaitable[None]]

ROUTE_MODEL = {intent_pb2.ROUTE_NONE: "none", intent_pb2.ROUTE_HAIKU: "haiku", intent_pb2.ROUTE_SONNET: "sonnet"}
# What the customer's product cards show; the prompt gets the subset in PROMPT_FIELDS.
CARD_FIELDS = ("asin", "series_id", "title", "authors", "genres", "language", "volumes", "price_jpy",
               "in_stock", "stock_count", "synopsis_short")
PROMPT_FIELDS = ("asin", "title", "authors", "genres", "price_jpy", "synopsis_short", "in_stock", "volumes")
SYSTEM_PROMPT = (
    "You are MangaAssist, the shopping assistant of a Japanese manga store. Answer in the "
    "customer's language, only from the products and store documents provided; never invent "
    "titles, prices or stock. Keep answers short."
)

_RPC_ERRORS: dict[grpc.StatusCode, tuple[ErrorCode, str]] = {
    grpc.StatusCode.UNAVAILABLE: (ErrorCode.UNAVAILABLE, "the {what} service is unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (ErrorCode.TIMEOUT, "the {what} service did not answer in time"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (ErrorCode.RATE_LIMITED, "the {what} service is overloaded"),
    grpc.StatusCode.CANCELLED: (ErrorCode.UNAVAILABLE, "the {what} call was cancelled"),
}


def rpc_error(exc: grpc.aio.AioRpcError, what: str) -> RequestError:
    """Map a downstream gRPC status to the contract's error code (one place)."""
    code = exc.code()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return RequestError(ErrorCode.INVALID_REQUEST, exc.details() or "invalid request")
    mapped, message = _RPC_ERRORS.get(code, (ErrorCode.INTERNAL, "the {what} service failed"))
    return RequestError(mapped, message.format(what=what))


@dataclass(frozen=True)
class Downstreams:
    intent: intent_pb2_grpc.IntentServiceAsyncStub
    retrieval: retrieval_pb2_grpc.RetrievalServiceAsyncStub
    inference: inference_pb2_grpc.InferenceServiceAsyncStub


def to_search_filters(frame: QueryFrame) -> common_pb2.SearchFilters:
    f = frame.filters
    out = common_pb2.SearchFilters()
    if f is None:
        return out
    if f.genre is not None:
        out.genres.append(f.genre)
    if f.language is not None:
        out.language = f.language
    if f.in_stock is not None:
        out.in_stock = f.in_stock
    if f.min_price_jpy is not None:
        out.min_price_jpy = f.min_price_jpy
    if f.max_price_jpy is not None:
        out.max_price_jpy = f.max_price_jpy
    return out


def one_edition_per_series(
    hits: list[common_pb2.Product], language: str, k: int
) -> list[common_pb2.Product]:
    """Best hit per series (in rank order), preferring the customer's language edition.

    The catalog holds a Japanese and an English edition of many series; showing both
    as separate picks wastes the customer's short list.
    """
    chosen: dict[str, common_pb2.Product] = {}
    for p in hits:
        kept = chosen.get(p.series_id)
        if kept is None or (kept.language != language and p.language == language):
            chosen[p.series_id] = p
    return list(chosen.values())[:k]


def product_dict(p: common_pb2.Product) -> dict[str, Any]:
    out: dict[str, Any] = MessageToDict(p, preserving_proto_field_name=True)
    return out


def prompt_product(p: common_pb2.Product) -> common_pb2.Product:
    """Only the fields the prompt needs (payload minimisation)."""
    out = common_pb2.Product()
    for name in PROMPT_FIELDS:
        if p.DESCRIPTOR.fields_by_name[name].is_repeated:
            getattr(out, name).extend(getattr(p, name))
        elif p.HasField(name):  # type: ignore[arg-type]
            setattr(out, name, getattr(p, name))
    return out


class Pipeline:
    """Answers one query frame; shared by every connection of the process."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        downstreams: Downstreams,
        sessions: SessionStore,
        tracer: Tracer,
    ) -> None:
        self._s = settings
        self._d = downstreams
        self._sessions = sessions
        self._tracer = tracer
        self._background: set[asyncio.Task[None]] = set()

    async def drain_background(self) -> None:
        """Wait for fire-and-forget work (session updates) so none is lost at shutdown."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def handle(self, raw: dict[str, Any], received_at: float, emit: Emit) -> None:
        """Answer one parsed frame: tokens then ``done``, or exactly one ``error`` frame."""
        request_id = raw.get("request_id") if isinstance(raw.get("request_id"), str) else None
        seg = Segments(self._tracer)
        tokens_sent = 0

        async def send_token(text: str) -> None:
            nonlocal tokens_sent
            await emit({"type": "token", "request_id": request_id, "text": text})
            tokens_sent += 1

        with seg.segment(spans.REQUEST) as root:
            seg.record(spans.API_GATEWAY, received_at)
            try:
                with seg.segment(spans.ORCHESTRATOR):
                    with seg.segment(spans.VALIDATION):
                        try:
                            frame = QueryFrame.model_validate(raw)
                        except ValidationError as exc:
                            raise RequestError(
                                ErrorCode.INVALID_REQUEST, describe_validation_error(exc)
                            ) from None
                        if len(frame.text) > self._s.max_text_chars:
                            raise RequestError(
                                ErrorCode.TOO_LARGE, f"text is longer than {self._s.max_text_chars} characters"
                            )
                    request_id = frame.request_id or f"r-{uuid.uuid4().hex[:16]}"
                    session_id = frame.session_id or f"s-{uuid.uuid4().hex}"
                    root.set_attribute("request_id", request_id)
                    done = await asyncio.wait_for(
                        self._answer(seg, frame, request_id, session_id, send_token),
                        timeout=self._s.request_timeout_s,
                    )
                seg.record(spans.REQUEST, received_at)
                done["timings_ms"] = seg.timings_ms
                followup = done.pop("_followup", None)
                await emit(done)
                if followup is not None:
                    self._track(followup(emit))
            except RequestError as exc:
                code = exc.code
                if tokens_sent and code not in (ErrorCode.STREAM_INTERRUPTED,):
                    code = ErrorCode.STREAM_INTERRUPTED
                root.set_attribute("error.code", code.value)
                await emit(error_frame(request_id, code, exc.message))
            except TimeoutError:
                code = ErrorCode.STREAM_INTERRUPTED if tokens_sent else ErrorCode.TIMEOUT
                root.set_attribute("error.code", code.value)
                await emit(error_frame(request_id, code, "the answer took too long"))

    async def _answer(
        self,
        seg: Segments,
        frame: QueryFrame,
        request_id: str,
        session_id: str,
        send_token: Callable[[str], Awaitable[None]],
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._s.request_timeout_s
        orchestrator_ctx = trace.set_span_in_context(trace.get_current_span())

        def remaining(cap: float) -> float:
            return max(0.001, min(cap, deadline - loop.time()))

        async def session_then_classify() -> tuple[Session, intent_pb2.ClassifyResponse]:
            with seg.segment(spans.SESSION_LOAD):
                session = await self._sessions.load(session_id)
            with seg.segment(spans.INTENT, parent=orchestrator_ctx) as span:
                try:
                    reply = await self._d.intent.Classify(
                        intent_pb2.ClassifyRequest(
                            text=frame.text,
                            # No hint: filters.language is the *edition* wanted, not the
                            # language the customer writes in.
                            context=intent_pb2.SessionContext(
                                previous_intents=session.intents[-self._s.history_turns:],
                                turn_count=len(session.intents),
                            ),
                        ),
                        timeout=remaining(self._s.intent_timeout_s),
                        metadata=outgoing_metadata(),
                    )
                except grpc.aio.AioRpcError as exc:
                    raise rpc_error(exc, "intent") from None
                span.set_attribute("intent", reply.intent)
            return session, reply

        async def search() -> retrieval_pb2.SearchResponse | RequestError:
            # Every query is embedded once here; the reply's embedding is what the
            # semantic cache will key on, so this runs even before the intent is known.
            with seg.segment(spans.VECTOR_SEARCH):
                try:
                    reply: retrieval_pb2.SearchResponse = await self._d.retrieval.Search(
                        retrieval_pb2.SearchRequest(
                            # Twice k, so one edition per series still leaves k picks.
                            query=frame.text, k=min(2 * self._s.retrieval_k, 50),
                            filters=to_search_filters(frame), fields=CARD_FIELDS,
                        ),
                        timeout=remaining(self._s.retrieval_timeout_s),
                        metadata=outgoing_metadata(),
                    )
                except grpc.aio.AioRpcError as exc:
                    return rpc_error(exc, "retrieval")
                return reply

        with seg.segment(spans.PARALLEL_RETRIEVAL):
            search_task = asyncio.create_task(search())
            try:
                session, classified = await session_then_classify()
            except BaseException:
                search_task.cancel()
                raise
            found = await search_task

        intent = classified.intent
        model = ROUTE_MODEL.get(classified.routing.route, "haiku")
        language = classified.language or "en"
        trace.get_current_span().set_attribute("intent", intent)
        trace.get_current_span().set_attribute("model", model)
        products: list[common_pb2.Product] = []
        if intent in PRODUCT_INTENTS and not classified.abstained:
            if isinstance(found, RequestError):
                raise found
            products = one_edition_per_series(
                [hit.product for hit in found.results], language, self._s.retrieval_k
            )
        if isinstance(found, retrieval_pb2.SearchResponse):
            seg.timings_ms[spans.QUERY_EMBEDDING] = round(found.embedding_ms, 3)

        done: dict[str, Any] = {
            "type": "done",
            "request_id": request_id,
            "session_id": session_id,
            "intent": intent,
            "model": model,
            "cache_hit": False,
            "products": [product_dict(p) for p in products],
            "usage": {"input_tokens": 0, "output_tokens": 0},
            "language": language,
            "route_reason": classified.routing.reason,
            "confidence": round(classified.confidence, 4),
        }
        if model == "none":
            answer = fixed_reply(intent, language, frame.text, classified.abstained)
            done["backend"] = "deterministic"
            with seg.segment(spans.RESPONSE_STREAMING):
                await send_token(answer)
        else:
            answer = await self._generate(seg, frame, session, classified, products, model, send_token, remaining, done)
        self._after(session_id, intent, frame.text, answer)
        return done

    async def _generate(
        self,
        seg: Segments,
        frame: QueryFrame,
        session: Session,
        classified: intent_pb2.ClassifyResponse,
        products: list[common_pb2.Product],
        model: str,
        send_token: Callable[[str], Awaitable[None]],
        remaining: Callable[[float], float],
        done: dict[str, Any],
    ) -> str:
        with seg.segment(spans.PROMPT_ASSEMBLY):
            history = session.turns[-2 * self._s.history_turns :] if self._s.history_turns else []
            request = inference_pb2.GenerateRequest(
                model=model,
                prompt=inference_pb2.PromptParts(
                    system=SYSTEM_PROMPT,
                    history=[common_pb2.Turn(role=r, text=t) for r, t in history],
                    products=[prompt_product(p) for p in products],
                    question=frame.text,
                    documents=documents_for(classified.intent, classified.language),
                    language=classified.language or "en",
                    intent=classified.intent,
                ),
            )
        pieces: list[str] = []
        with seg.segment(spans.BEDROCK_INVOKE, {"gen_ai.request.model": model}) as span:
            call = self._d.inference.Generate(
                request, timeout=remaining(self._s.request_timeout_s), metadata=outgoing_metadata()
            )
            stream_start: float | None = None
            final: inference_pb2.GenerationDone | None = None
            try:
                iterator = call.__aiter__()
                while True:
                    wait = remaining(self._s.first_token_timeout_s) if stream_start is None else None
                    try:
                        message = await asyncio.wait_for(anext(iterator), wait)
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise RequestError(ErrorCode.TIMEOUT, "the model did not start answering in time") from None
                    if message.HasField("token"):
                        if stream_start is None:
                            stream_start = time.perf_counter()
                        pieces.append(message.token.text)
                        await send_token(message.token.text)
                    elif message.HasField("done"):
                        final = message.done
                        break  # the output guardrail's verdict follows off the critical path
            except grpc.aio.AioRpcError as exc:
                call.cancel()
                raise rpc_error(exc, "inference") from None
            except BaseException:
                call.cancel()
                raise
            if final is None:
                raise RequestError(ErrorCode.STREAM_INTERRUPTED, "the answer stream ended early")
            if stream_start is not None:
                seg.record(spans.RESPONSE_STREAMING, stream_start)
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
        # Inference issue: fallbacks are recorded; the output guardrail's verdict on the
        # already-streamed answer arrives after `done` and becomes a `guardrail` frame.
        done["fallback"] = (
            {"from": final.fallback_from, "to": final.model, "reason": final.fallback_reason}
            if final.fallback_from else None
        )
        request_id = done["request_id"]

        async def guardrail_followup(emit: Emit) -> None:
            try:
                async for message in call:
                    if message.HasField("guardrail") and message.guardrail.flagged:
                        logger.warning("answer flagged after streaming",
                                       extra={"categories": list(message.guardrail.categories)})
                        await emit({"type": "guardrail", "request_id": request_id, "action": "flagged",
                                    "categories": list(message.guardrail.categories),
                                    "engine": message.guardrail.engine})
            except grpc.aio.AioRpcError:
                pass  # the verdict is advisory; the answer was already delivered
            except Exception as exc:  # e.g. the client went away before the verdict
                logger.info("guardrail frame not delivered", extra={"error": type(exc).__name__})
            finally:
                call.cancel()

        done["_followup"] = guardrail_followup
        return "".join(pieces)

    def _track(self, work: Awaitable[None]) -> None:
        """Run ``work`` in the background, tracked so drain waits for it."""

        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _after(self, session_id: str, intent: str, text: str, answer: str) -> None:
        """Fire-and-forget post-processing, tracked so drain can wait for it."""

        async def post() -> None:
            with (
                self._tracer.start_as_current_span(spans.ASYNC_POSTPROCESSING),
                self._tracer.start_as_current_span(spans.SESSION_UPDATE),
            ):
                try:
                    await self._sessions.append(session_id, intent, text, answer)
                except Exception:
                    logger.exception("session update failed")

        task = asyncio.create_task(post())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
