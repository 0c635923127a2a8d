"""Understanding the turn: the conversation so far (session and dialogue state), the query
embedding with the catalog names retrieval linked in it, the intent service's resolution of
the turn; and, after the answer, the session write that records the turn."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.trace import Tracer

from mangaassist.common import spans
from mangaassist.common.pii import mask_pii
from mangaassist.common.resilience import CLOSED, BreakerOpenError, BulkheadFullError
from mangaassist.common.telemetry import outgoing_metadata
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dialogue import decode_state
from mangaassist.orchestrator.guards import Guards, idempotent
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.schema import ErrorCode, RequestError
from mangaassist.orchestrator.sessions import MAX_INTENTS, Session, SessionStore, Turn
from mangaassist.orchestrator.stages.base import Downstreams, Request, rejected, rpc_error
from mangaassist.proto.intent.v1 import intent_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2

logger = logging.getLogger(__name__)

MAX_UNWRITTEN = 10_000  # sessions whose last turn is remembered until its write lands


@dataclass(frozen=True)
class _Unwritten:
    """A turn answered but not yet in the store: what the next turn must resolve against."""

    turn_id: str
    owner: str | None
    intent: str
    state: bytes | None

    def overlay(self, session: Session) -> None:
        if self.state is not None:
            session.state = self.state
        session.intents = [*session.intents, self.intent][-MAX_INTENTS:]


@dataclass(eq=False)
class ContextStage:
    """Session, embedding + mentions, classification; the session write after the answer."""

    settings: OrchestratorSettings
    downstreams: Downstreams
    sessions: SessionStore
    guards: Guards
    post: PostProcessor
    tracer: Tracer

    def __post_init__(self) -> None:
        # Session writes still in flight, by session: the next turn of a conversation reads
        # the session only after the previous turn's write (a quick follow-up must see the
        # state the previous answer left). A connection stays on one process, so this is
        # the whole story for one conversation.
        self._writes: dict[str, asyncio.Event] = {}
        # The last turn of each session whose write has not landed yet (bounded): a turn that
        # reads the session before it lands (the store slow, failing or its breaker open)
        # still resolves against the dialogue state that turn left, not an older one.
        self._unwritten: OrderedDict[str, _Unwritten] = OrderedDict()

    async def load_session(self, req: Request) -> Session:
        """The conversation so far; a minimal empty session if the store is unreachable."""
        if req.frame.session_id is None:
            # The server just assigned this id: the conversation starts here, nothing to read.
            req.session = Session(req.session_id)
            return req.session
        with req.seg.segment(spans.SESSION_LOAD):
            pending = self._writes.get(req.session_id)
            # While the store's breaker is not closed the previous write is waiting for the
            # store to return (post-processor): waiting for it here would only delay the answer.
            if pending is not None and self.guards["dynamodb"].breaker.state == CLOSED:
                try:
                    await asyncio.wait_for(pending.wait(), req.remaining(self.settings.session_timeout_s))
                except TimeoutError:
                    logger.warning("previous turn's session write still pending; reading without it")
            try:
                session = await self.guards["dynamodb"].run(
                    lambda: asyncio.wait_for(
                        self.sessions.load(req.session_id), req.remaining(self.settings.session_timeout_s)
                    ),
                    req.squeezed(self.settings.session_timeout_s),
                )
            except Exception as exc:
                logger.warning("session load failed; continuing without history", extra={"error": type(exc).__name__})
                req.fallbacks.append("session")
                session = Session(req.session_id)
                unwritten = self._unwritten.get(req.session_id)
                if unwritten is not None and unwritten.owner == req.identity.owner:
                    session.customer_id = unwritten.owner
                    unwritten.overlay(session)
                return session
        unwritten = self._unwritten.get(req.session_id)
        if (
            unwritten is not None
            and unwritten.owner == req.identity.owner
            and unwritten.turn_id not in session.turn_ids
        ):
            unwritten.overlay(session)
        if not session.owned_by(req.identity.owner):
            raise RequestError(ErrorCode.UNAUTHORIZED, "this conversation belongs to another account")
        req.session = session
        return session

    async def classify(
        self, req: Request, session: Session, parent: Any, embedding: list[float] | None = None
    ) -> intent_pb2.ClassifyResponse:
        with req.seg.segment(spans.INTENT, parent=parent) as span:
            try:
                reply: intent_pb2.ClassifyResponse = await idempotent(
                    self.guards["intent"],
                    req.budget,
                    lambda: self.downstreams.intent.Classify(
                        intent_pb2.ClassifyRequest(
                            text=req.frame.text,
                            # No language hint: filters.language is the *edition* wanted, not the
                            # language the customer writes in.
                            context=intent_pb2.SessionContext(
                                previous_intents=session.intents[-self.settings.history_turns :],
                                turn_count=len(session.intents),
                            ),
                            # The shared query embedding: the intent service's fusion head uses it.
                            query_embedding=embedding or [],
                            embedding_model=req.embedding_model if embedding else "",
                            state=decode_state(session.state),
                            mentions=req.mentions,
                        ),
                        timeout=req.remaining(self.settings.intent_timeout_s),
                        metadata=outgoing_metadata(),
                    ),
                    lambda: req.squeezed(self.settings.intent_timeout_s),
                )
            except grpc.aio.AioRpcError as exc:
                raise rpc_error(exc, "intent") from None
            except (BreakerOpenError, BulkheadFullError) as exc:
                raise rejected(exc, "intent") from None
            span.set_attribute("intent", reply.intent)
        return reply

    async def embed(self, req: Request) -> list[float] | None:
        """The query embedding, computed once per request (the semantic cache reuses it).

        ``None`` when retrieval cannot embed now: the search then embeds by itself, or fails.
        """
        with req.seg.segment(spans.QUERY_EMBEDDING):
            try:
                reply: retrieval_pb2.EmbedResponse = await idempotent(
                    self.guards["retrieval"],
                    req.budget,
                    lambda: self.downstreams.retrieval.Embed(
                        retrieval_pb2.EmbedRequest(text=req.frame.text, link=True),
                        timeout=req.remaining(self.settings.retrieval_timeout_s),
                        metadata=outgoing_metadata(),
                    ),
                    lambda: req.squeezed(self.settings.retrieval_timeout_s),
                )
            except (grpc.aio.AioRpcError, BreakerOpenError, BulkheadFullError):
                return None
        req.embedding_model = reply.model
        req.mentions = list(reply.mentions)
        return list(reply.embedding)

    async def record(
        self, req: Request, intent: str, answer: str, cost_usd: float = 0.0, state: bytes | None = None
    ) -> None:
        """Hand the session update (the turn and the dialogue state after it, one write) to
        the post-processor (retried, flushed at drain)."""
        # The session belongs to the signed-in customer or the anonymous browser (auth.py);
        # what it keeps of the customer's words and the answer has its PII masked.
        session_id, owner, base = req.session_id, req.identity.owner, req.session
        text, answer = mask_pii(req.frame.text)[0], mask_pii(answer)[0]
        turn_id = uuid.uuid4().hex[:16]  # the same on every retry of this write: it lands once

        written = asyncio.Event()
        self._writes[session_id] = written
        self._unwritten[session_id] = _Unwritten(turn_id, owner, intent, state)
        self._unwritten.move_to_end(session_id)
        while len(self._unwritten) > MAX_UNWRITTEN:
            self._unwritten.popitem(last=False)

        async def update_session() -> None:
            try:
                # No exception event with a formatted traceback: under overload these writes
                # fail in bursts and formatting the traces cost more CPU than the writes
                # (profile in docs/decisions); the error still ends the span as an error.
                with (
                    self.tracer.start_as_current_span(spans.ASYNC_POSTPROCESSING, record_exception=False),
                    self.tracer.start_as_current_span(spans.SESSION_UPDATE, record_exception=False),
                ):
                    await self.sessions.append(
                        session_id, Turn(owner, intent, text, answer, cost_usd, state, turn_id), base
                    )
                landed = self._unwritten.get(session_id)
                if landed is not None and landed.turn_id == turn_id:
                    del self._unwritten[session_id]
            finally:
                # A failed attempt also releases the next turn (it reads what is there); a retry
                # that lands later is still ordered by the session's version.
                written.set()
                if self._writes.get(session_id) is written:
                    del self._writes[session_id]

        # Keyed by session: a conversation's turns are written one after another, in order
        # (after a store outage the queued turns land as they were answered).
        await self.post.submit(spans.SESSION_UPDATE, update_session, key=session_id)
