"""The real servicers built inside the benchmark process, and stub-like adapters over them.

Bench-only wiring (never shipped): the same classes the service processes build in their
``server.py``, constructed from the same settings classes, so a benchmark can call the
handler code with no gRPC in between (``mesh_vs_monolith``) or put another transport in
front of it (the HTTP/JSON twin of ``grpc_vs_rest``).

The adapters implement exactly the stub methods the orchestrator's pipeline calls
(``Classify``, ``Embed``, ``Search``, ``Generate``) with the stubs' calling convention:
``timeout=`` is honoured, a handler's ``ServiceError`` (or a blown deadline) surfaces as
``grpc.aio.AioRpcError`` with the same status code the interceptor would have sent, and
``Generate`` returns a call object that is async-iterable once and cancellable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc

from mangaassist.common.errors import ServiceError
from mangaassist.inference.bedrock import BedrockBackend
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.service import InferenceServicer, local_output_check
from mangaassist.intent.config import IntentSettings
from mangaassist.intent.model import IntentModel
from mangaassist.intent.service import IntentServicer
from mangaassist.proto.inference.v1 import inference_pb2
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.server import open_index
from mangaassist.retrieval.service import RetrievalServicer

T = TypeVar("T")
Req = TypeVar("Req", contravariant=True)
Resp = TypeVar("Resp", covariant=True)


def build_intent(settings: IntentSettings | None = None) -> IntentServicer:
    """The intent servicer as ``mangaassist.intent.server.build_app`` builds it."""
    s = settings or IntentSettings()
    return IntentServicer(IntentModel.load(s.model_path), s.abstain_threshold, s.max_text_chars, s.explain_top_features)


async def build_retrieval(settings: RetrievalSettings | None = None) -> RetrievalServicer:
    """The retrieval servicer with its saved index loaded (as the service's warm-up does)."""
    s = settings or RetrievalSettings()
    servicer = RetrievalServicer(s.default_k, s.max_k, s.max_query_chars, s.cache_entries, s.cache_ttl_s, s.hybrid)
    servicer.ready(await asyncio.get_running_loop().run_in_executor(None, open_index, s))
    return servicer


async def build_inference(settings: InferenceSettings) -> tuple[InferenceServicer, BedrockBackend]:
    """The inference servicer with a started (pre-warmed) Bedrock client; close the backend after use."""
    backend = BedrockBackend(settings)
    await backend.start()
    if settings.prewarm:
        await asyncio.wait_for(backend.warm_up(), settings.warm_up_timeout_s)
    return InferenceServicer(backend, settings, local_output_check), backend


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


async def _unary(call: Awaitable[T], deadline_s: float | None) -> T:
    """Await a handler as a stub call would: deadline and status codes included."""
    try:
        return await asyncio.wait_for(call, deadline_s)
    except ServiceError as exc:
        raise _rpc_error(exc.code, exc.message) from None
    except TimeoutError:
        raise _rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None


class Unary(Protocol[Req, Resp]):
    """A unary stub method: ``stub.Method(request, timeout=..., metadata=...)``."""

    def __call__(self, request: Req, timeout: float | None = None, metadata: Any = None) -> Awaitable[Resp]: ...


def unary(handler: Callable[[Req, Any], Awaitable[Resp]]) -> Unary[Req, Resp]:
    """A servicer's unary handler called the way its stub method is (see ``_unary``)."""

    def call(request: Req, timeout: float | None = None, metadata: Any = None) -> Awaitable[Resp]:
        return _unary(handler(request, None), timeout)

    return call


class InProcessIntent:
    """``IntentServiceStub`` over an in-process servicer."""

    def __init__(self, servicer: IntentServicer) -> None:
        self.Classify = unary(servicer.Classify)


class InProcessRetrieval:
    """``RetrievalServiceStub`` over an in-process servicer."""

    def __init__(self, servicer: RetrievalServicer) -> None:
        self.Embed = unary(servicer.Embed)
        self.Search = unary(servicer.Search)


class InProcessStream:
    """A server-streaming call over an in-process async generator: iterate once, cancel any time."""

    def __init__(self, source: AsyncIterator[inference_pb2.GenerateResponse], timeout: float | None) -> None:
        self._source = source
        self._deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        self._iterator: AsyncIterator[inference_pb2.GenerateResponse] | None = None
        self._closer: asyncio.Task[None] | None = None

    def __aiter__(self) -> AsyncIterator[inference_pb2.GenerateResponse]:
        # Like grpc.aio's call: every iteration continues the same stream.
        if self._iterator is None:
            self._iterator = self._messages()
        return self._iterator

    async def _messages(self) -> AsyncIterator[inference_pb2.GenerateResponse]:
        loop = asyncio.get_running_loop()
        while True:
            left = None if self._deadline is None else self._deadline - loop.time()
            try:
                message = await asyncio.wait_for(anext(self._source), left)
            except StopAsyncIteration:
                return
            except ServiceError as exc:
                raise _rpc_error(exc.code, exc.message) from None
            except TimeoutError:
                raise _rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
            yield message

    def cancel(self) -> bool:
        """Stop the handler (closes its generator, as a cancelled RPC would)."""
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._close())
            return True
        return False

    async def _close(self) -> None:
        closer = getattr(self._source, "aclose", None)
        if closer is not None:
            # RuntimeError "asynchronous generator is already running": the reader is inside
            # it right now, and it stops at its next step instead.
            with contextlib.suppress(RuntimeError):
                await closer()


class InProcessInference:
    """``InferenceServiceStub`` over an in-process servicer."""

    def __init__(self, servicer: InferenceServicer) -> None:
        self._s = servicer

    def Generate(
        self, request: inference_pb2.GenerateRequest, timeout: float | None = None, metadata: Any = None
    ) -> InProcessStream:
        return InProcessStream(self._s.Generate(request, None), timeout)  # type: ignore[arg-type]
