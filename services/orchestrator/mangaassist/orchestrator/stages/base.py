"""What every stage of a request shares: the request's deadlines and budget, the
downstream stubs, and the one mapping of downstream failures to contract error codes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from mangaassist.common.resilience import BreakerOpenError, BulkheadFullError
from mangaassist.orchestrator.auth import Identity
from mangaassist.orchestrator.guards import RetryBudget
from mangaassist.orchestrator.schema import ErrorCode, QueryFrame, RequestError
from mangaassist.orchestrator.segments import Segments
from mangaassist.orchestrator.sessions import Session
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2_grpc
from mangaassist.proto.intent.v1 import intent_pb2_grpc
from mangaassist.proto.retrieval.v1 import retrieval_pb2_grpc

Emit = Callable[[dict[str, Any]], Awaitable[None]]

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


def rejected(exc: BreakerOpenError | BulkheadFullError, what: str) -> RequestError:
    """A call our own guard refused: fail fast, tell the client to retry shortly."""
    if isinstance(exc, BreakerOpenError):
        return RequestError(ErrorCode.UNAVAILABLE, f"the {what} service is temporarily unavailable")
    return RequestError(ErrorCode.UNAVAILABLE, f"the {what} service is busy; retry shortly")


@dataclass(frozen=True)
class Downstreams:
    intent: intent_pb2_grpc.IntentServiceAsyncStub
    retrieval: retrieval_pb2_grpc.RetrievalServiceAsyncStub
    inference: inference_pb2_grpc.InferenceServiceAsyncStub


@dataclass
class Request:
    """Per-request state shared by the pipeline's steps."""

    seg: Segments
    frame: QueryFrame
    request_id: str
    session_id: str
    identity: Identity
    send_token: Callable[[str], Awaitable[None]]
    first_token_deadline: float  # loop time by which the customer must see the first token
    stream_deadline: float  # loop time by which the whole answer must be complete
    budget: RetryBudget
    fallbacks: list[str] = field(default_factory=list)
    streaming: bool = False
    started_wall: float = field(default_factory=time.time)  # when the answer's facts were read
    embedding_model: str = ""  # EmbedResponse.model of the query embedding, once computed
    mentions: list[common_pb2.Mention] = field(default_factory=list)  # catalog names linked in the text
    # The session as this turn read it (its version): the turn's write appends to it
    # without reading it again.
    session: Session | None = None
    # The loop the request runs on (its clock is the deadlines'); looked up once, not per call.
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)

    def remaining(self, cap: float) -> float:
        """Seconds for the next call: its own cap or what is left of the request's budget.

        Until the first token is out, every call shares the first-token budget (2 s by
        default); after that, the stream's own deadline applies.
        """
        deadline = self.stream_deadline if self.streaming else self.first_token_deadline
        return max(0.001, min(cap, deadline - self.loop.time()))

    def squeezed(self, cap: float) -> bool:
        """Whether the request's budget, not the call's own ``cap``, leaves the next call
        under half that cap: its timing out then is the request's lateness, not the
        downstream's failure, and is kept out of the downstream's breaker."""
        return self.remaining(cap) < cap / 2

    def stream_remaining(self) -> float:
        return max(0.001, self.stream_deadline - self.loop.time())
