"""Amazon Bedrock through aioboto3 ``converse_stream`` — the production backend.

One long-lived ``bedrock-runtime`` client per process, created at start: a pool of
``max_pool_connections`` kept-alive connections (40: one per answer the orchestrator
admits per model — a stream holds its connection to the end; 10 is for request/response
calls: docs/decisions/0008-budgets-pools-breakers.md), 60 s idle,
2 s connect / 30 s read timeouts, adaptive retries. Pre-warm resolves the endpoint's
DNS and sends a 1-token Haiku request so the first customer does not pay for the TCP
and TLS handshakes. Locally ``endpoint_url`` points at the Bedrock emulator, which
speaks the same wire protocol, so this exact code path is what the tests run. Every
call's outcome feeds ``reachability`` (a connection that fails, an endpoint that answers or
goes silent while calls wait), which the service's health follows once it serves
(reachability.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlparse

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.eventstream import ChecksumMismatch, ParserError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    EventStreamError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from mangaassist.common.pools import Pool, PoolStats, aiobotocore_idle, measured_http_session
from mangaassist.inference.backend import (
    Conversation,
    Finished,
    ModelError,
    ModelStreamBroken,
    ModelThrottled,
    ModelTimeout,
    ModelUnavailable,
    ModelUnreachable,
)
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.reachability import Probe, Reachability, endpoint_probe

logger = logging.getLogger(__name__)

EMULATOR_HEADER = "x-mangaassist-emulator"
_THROTTLED = {"ThrottlingException", "throttlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
_UNAVAILABLE = {
    "ServiceUnavailableException",
    "serviceUnavailableException",
    "InternalServerException",
    "internalServerException",
    "ModelNotReadyException",
}
_TIMEOUT = {"ModelTimeoutException"}


def map_client_error(exc: ClientError) -> ModelError:
    code = exc.response.get("Error", {}).get("Code", "")
    message = f"bedrock {code or 'error'}"
    if code in _THROTTLED:
        return ModelThrottled(message)
    if code in _UNAVAILABLE:
        return ModelUnavailable(message)
    if code in _TIMEOUT:
        return ModelTimeout(message)
    if code in ("modelStreamErrorException", "ModelStreamErrorException"):
        return ModelStreamBroken(message)
    return ModelError(message)


class BedrockBackend:
    """``FoundationModel`` over Bedrock ConverseStream (or the wire-compatible emulator)."""

    def __init__(self, settings: InferenceSettings, tracer: Tracer | None = None) -> None:
        self._s = settings
        self._tracer = tracer or trace.get_tracer(__name__)
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._fail_fast_client: Any = None
        self.pool_stats = PoolStats()  # both clients' pools, measured
        self.name = "bedrock"
        self.verified: set[str] = set()  # routes whose model answered a request
        # Whether the endpoint can be reached (the service's health follows it once serving).
        self.reachability = Reachability(
            self._probe_endpoint,
            interval_s=settings.model_probe_interval_s,
            stall_s=settings.model_stall_s,
            probe_timeout_s=settings.model_probe_timeout_s,
        )
        self._probe: Probe | None = None

    @property
    def client(self) -> Any:
        """The shared ``bedrock-runtime`` client (also used by the Bedrock guardrail)."""
        if self._client is None:
            raise RuntimeError("BedrockBackend.start() has not run")
        return self._client

    async def start(self) -> None:
        botocore_session = AioSession()
        extra: dict[str, str] = {}
        if self._s.bedrock_endpoint_url and await botocore_session.get_credentials() is None:
            # A local endpoint (the emulator) checks no signature; requests still get
            # signed, so give the signer placeholder keys rather than failing.
            extra = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
        session = aioboto3.Session(botocore_session=botocore_session, region_name=self._s.aws_region)

        def config(attempts: int) -> AioConfig:
            return AioConfig(
                max_pool_connections=self._s.max_pool_connections,
                connect_timeout=self._s.connect_timeout_s,
                read_timeout=self._s.read_timeout_s,
                retries={"mode": self._s.retry_mode, "total_max_attempts": attempts},
                tcp_keepalive=True,
                connector_args={"keepalive_timeout": self._s.keepalive_idle_s},
                http_session_cls=measured_http_session(self.pool_stats),
            )

        self._client = await self._stack.enter_async_context(
            session.client(
                "bedrock-runtime",
                endpoint_url=self._s.bedrock_endpoint_url,
                config=config(self._s.max_attempts),
                **extra,
            )
        )
        # Sonnet with Haiku behind it must not spend the first-token budget on backoff:
        # its calls go through a twin client that does not retry.
        self._fail_fast_client = await self._stack.enter_async_context(
            session.client("bedrock-runtime", endpoint_url=self._s.bedrock_endpoint_url, config=config(1), **extra)
        )
        logger.info(
            "bedrock client ready",
            extra={"endpoint": self._client.meta.endpoint_url, "pool": self._s.max_pool_connections},
        )

    async def warm_up(self) -> None:
        """DNS, then a 1-token Haiku request through each client (opens a pooled connection)."""
        url = urlparse(self.client.meta.endpoint_url)
        loop = asyncio.get_running_loop()
        await loop.getaddrinfo(url.hostname, url.port or (443 if url.scheme == "https" else 80))
        started = time.perf_counter()
        for client in (self.client, self._fail_fast_client):
            response = await client.converse(
                modelId=self._s.model_ids["haiku"],
                messages=[{"role": "user", "content": [{"text": "ping"}]}],
                inferenceConfig={"maxTokens": 1},
            )
        self._note_endpoint(response)
        self.verified.add("haiku")
        logger.info("bedrock pre-warmed", extra={"ms": round((time.perf_counter() - started) * 1000, 1)})

    async def check_model(self, model: str) -> None:
        """One 1-token ``Converse`` to ``model``'s id through the client that does not retry.

        Raises ``ModelUnreachable`` when Bedrock refuses the model (no access, unknown id or
        profile, end of life, IAM) or its endpoint cannot be reached. Throttling means the
        model is there and busy: that passes.
        """
        model_id = self._s.model_ids[model]
        try:
            response = await self._fail_fast_client.converse(
                modelId=model_id,
                messages=[{"role": "user", "content": [{"text": "ping"}]}],
                inferenceConfig={"maxTokens": 1},
            )
        except ClientError as exc:
            self.reachability.succeeded()  # the endpoint answered
            code = exc.response.get("Error", {}).get("Code", "") or "ClientError"
            if code in _THROTTLED:
                self.verified.add(model)
                return
            raise ModelUnreachable(model, model_id, code) from None
        except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError, aiohttp.ClientError) as exc:
            self.reachability.failed(exc)
            raise ModelUnreachable(model, model_id, type(exc).__name__) from None
        self.reachability.succeeded()
        self._note_endpoint(response)
        self.verified.add(model)

    async def wait_for_models(self, attempt_timeout_s: float, backoff_max_s: float) -> None:
        """Return once every configured model has answered (readiness); until then log and retry.

        Each attempt is bounded by ``attempt_timeout_s``; a check that only times out is
        logged and passes (the model may be slow, not missing), so a slow Bedrock never keeps
        the service from starting, while a refused model always does.
        """
        for model in sorted(self._s.model_ids):
            delay = 1.0
            while model not in self.verified:
                try:
                    async with asyncio.timeout(attempt_timeout_s):
                        await self.check_model(model)
                except ModelUnreachable as exc:
                    logger.error(
                        "model unreachable: health stays NOT_SERVING until it answers",
                        extra={"route": exc.model, "model_id": exc.model_id, "error": exc.reason, "retry_in_s": delay},
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, backoff_max_s)
                except TimeoutError:
                    logger.warning(
                        "model check timed out; serving anyway", extra={"route": model, "timeout_s": attempt_timeout_s}
                    )
                    break

    async def _probe_endpoint(self) -> bool:
        """The endpoint's HTTP front door answers a ``GET /`` (TLS for https); no model call."""
        if self._probe is None:
            self._probe = endpoint_probe(self.client.meta.endpoint_url, self._s.model_probe_timeout_s)
        return await self._probe()

    async def close(self) -> None:
        await self.reachability.close()
        await self._stack.aclose()
        self._client = self._fail_fast_client = None

    def as_pool(self) -> Pool:
        """Both clients' connection pools as one entry of the process's pool manager; warming
        it is the pre-warm (DNS, then a 1-token request through each client)."""
        return Pool(
            "bedrock",
            2 * self._s.max_pool_connections,
            self.pool_stats,
            lambda: aiobotocore_idle(self._client) + aiobotocore_idle(self._fail_fast_client),
            warm=self.warm_up,
        )

    def _note_endpoint(self, response: dict[str, Any]) -> None:
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        self.name = "bedrock-emulator" if EMULATOR_HEADER in headers else "bedrock"

    async def stream(
        self, model: str, conversation: Conversation, max_tokens: int, fail_fast: bool = False
    ) -> AsyncGenerator[str | Finished, None]:
        """``ConverseStream`` inside a CLIENT span with the OTel GenAI attributes (model,
        request limits, usage, finish reason; never the prompt or the answer)."""
        model_id = self._s.model_ids[model]
        span = self._tracer.start_span(
            f"chat {model_id}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "aws.bedrock",
                "gen_ai.provider.name": "aws.bedrock",
                "gen_ai.request.model": model_id,
                "gen_ai.request.max_tokens": max_tokens,
                "gen_ai.request.temperature": self._s.temperature,
                "rpc.system": "aws-api",
                "rpc.service": "BedrockRuntime",
                "rpc.method": "ConverseStream",
                "server.address": self._endpoint_host,
                "cloud.region": self._s.aws_region,
                "mangaassist.model_route": model,
            },
        )
        first_token = False
        # From the request to the stream's end, a silence of the endpoint is watched (reachability.py).
        self.reachability.call_started()
        try:
            async for item in self._converse_stream(model, conversation, max_tokens, fail_fast):
                if isinstance(item, Finished):
                    span.set_attributes(
                        {
                            "gen_ai.usage.input_tokens": item.input_tokens,
                            "gen_ai.usage.output_tokens": item.output_tokens,
                            "gen_ai.response.finish_reasons": [item.finish_reason],
                            "gen_ai.response.model": model_id,
                        }
                    )
                elif not first_token:
                    first_token = True
                    span.add_event("gen_ai.first_token")
                yield item
        except ModelError as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            self.reachability.call_ended()
            span.end()

    @property
    def _endpoint_host(self) -> str:
        if self._client is None:
            return ""
        return urlparse(self._client.meta.endpoint_url).hostname or ""

    async def _converse_stream(
        self, model: str, conversation: Conversation, max_tokens: int, fail_fast: bool
    ) -> AsyncGenerator[str | Finished, None]:
        client = self._fail_fast_client if fail_fast and self._fail_fast_client is not None else self.client
        request = {
            "modelId": self._s.model_ids[model],
            "system": [{"text": conversation.system}],
            "messages": [{"role": role, "content": [{"text": text}]} for role, text in conversation.messages],
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": self._s.temperature},
        }
        try:
            response = await client.converse_stream(**request)
        except ClientError as exc:
            self.reachability.succeeded()  # the model side answered (throttled, invalid, …)
            raise map_client_error(exc) from None
        except (TimeoutError, ConnectTimeoutError, ReadTimeoutError) as exc:
            self.reachability.failed(exc)  # only a connect timeout counts
            raise ModelTimeout(f"bedrock did not answer: {type(exc).__name__}") from None
        except (EndpointConnectionError, ConnectionClosedError, aiohttp.ClientError, BotoCoreError) as exc:
            self.reachability.failed(exc)
            raise ModelUnavailable(f"bedrock unreachable: {type(exc).__name__}") from None
        self.reachability.succeeded()
        self._note_endpoint(response)
        events = response["stream"]
        stop: str | None = None
        usage: dict[str, int] = {}
        latency_ms = 0.0
        clean = False
        try:
            async for event in events:
                self.reachability.heard()
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"]["delta"].get("text")
                    if text:
                        yield text
                elif "messageStop" in event:
                    stop = event["messageStop"]["stopReason"]
                elif "metadata" in event:
                    usage = event["metadata"].get("usage", {})
                    latency_ms = float(event["metadata"].get("metrics", {}).get("latencyMs", 0))
            clean = True
        except EventStreamError as exc:
            error = map_client_error(exc)
            raise (error if isinstance(error, ModelStreamBroken) else ModelStreamBroken(str(error))) from None
        except (ChecksumMismatch, ParserError) as exc:
            raise ModelStreamBroken(f"malformed event stream: {type(exc).__name__}") from None
        except (TimeoutError, ReadTimeoutError) as exc:
            raise ModelStreamBroken(f"bedrock stream stalled: {type(exc).__name__}") from None
        except (ResponseStreamingError, aiohttp.ClientError, BotoCoreError) as exc:
            self.reachability.failed(exc)  # a cut connection: the probe tells whether the endpoint is gone
            raise ModelStreamBroken(f"bedrock stream cut: {type(exc).__name__}") from None
        finally:
            if not clean:
                # A half-read response must not go back to the pool.
                with contextlib.suppress(Exception):
                    events.close()
        if stop is None:
            raise ModelStreamBroken("bedrock stream ended without a stop event")
        yield Finished(
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            finish_reason=stop,
            model=model,
            model_latency_ms=latency_ms,
        )

    async def apply_guardrail(self, text: str) -> tuple[bool, list[str]]:
        """Bedrock ApplyGuardrail on an answer: (intervened, categories)."""
        try:
            reply = await self.client.apply_guardrail(
                guardrailIdentifier=self._s.guardrail_id,
                guardrailVersion=self._s.guardrail_version,
                source="OUTPUT",
                content=[{"text": {"text": text}}],
            )
        except ClientError as exc:
            self.reachability.succeeded()
            raise map_client_error(exc) from None
        except Exception as exc:
            self.reachability.failed(exc)
            raise
        self.reachability.succeeded()
        categories: list[str] = []
        for assessment in reply.get("assessments", []):
            for entity in assessment.get("sensitiveInformationPolicy", {}).get("piiEntities", []):
                categories.append(f"pii:{entity['type'].lower()}")
            if assessment.get("wordPolicy", {}).get("customWords"):
                categories.append("denied_words")
            if assessment.get("contentPolicy", {}).get("filters"):
                categories.append("content")
            if assessment.get("topicPolicy", {}).get("topics"):
                categories.append("denied_topic")
        return reply.get("action") == "GUARDRAIL_INTERVENED", sorted(set(categories))
