"""Inference service settings (env prefix ``MANGAASSIST_INFERENCE_``).

Unset ``BEDROCK_ENDPOINT_URL`` means real Bedrock (the SDK's regional endpoint and the
standard AWS credential chain); the local cluster sets it to the Bedrock emulator.

The default models are current Claude models through the Japan cross-Region inference
profiles (``jp.``: requests stay in ap-northeast-1 / ap-northeast-3), the ids listed in the
Amazon Bedrock user guide's "Supported Regions and models for inference profiles"
(https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html).
``apac.`` / ``global.`` profile ids or an in-Region foundation-model id work the same way;
the deploy stack grants IAM for whichever ids it is given.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from mangaassist.common.settings import Count, Limit, Seconds, ServiceSettings


class InferenceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_INFERENCE_")

    port: int = 50053
    backend: Literal["bedrock"] = "bedrock"
    bedrock_endpoint_url: str | None = None
    # Model (or inference-profile) ids per route: Claude Haiku 4.5 and Claude Sonnet 4.6.
    haiku_model_id: str = "jp.anthropic.claude-haiku-4-5-20251001-v1:0"
    sonnet_model_id: str = "jp.anthropic.claude-sonnet-4-6"
    # USD per 1,000 (input, output) tokens: the on-demand list prices of those two models
    # (Haiku 4.5 $1 / $5, Sonnet 4.6 $3 / $15 per million); check your Region's Bedrock page.
    pricing_usd_per_1k: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "haiku": (0.001, 0.005),
            "sonnet": (0.003, 0.015),
        }
    )
    # One long-lived client per process, 60 s idle keep-alive. A streamed answer holds its
    # connection until its last token, so the pool must cover the answers the orchestrator
    # admits at once (its bulkhead: 40 per model). A pool of 10 (sized for request/response
    # calls) capped a process at 10 answers in flight: with 64 sessions, 59 of 192 questions
    # failed waiting for a connection (first-token timeouts, then the open breaker); 0 with 40
    # (decision 0008).
    max_pool_connections: Count = 40
    connect_timeout_s: Seconds = 2.0
    read_timeout_s: Seconds = 30.0
    keepalive_idle_s: Seconds = 60.0
    retry_mode: Literal["adaptive", "standard", "legacy"] = "adaptive"
    max_attempts: Count = 3  # total attempts per call (the first + retries), as AWS SDKs count
    temperature: float = Field(default=0.2, ge=0.0, le=1.0)
    # Pre-warm at start (DNS, pool, a 1-token Haiku request); SERVING after at most this long.
    prewarm: bool = True
    warm_up_timeout_s: Seconds = 10.0
    # Readiness: before SERVING, each configured model must answer a 1-token request. A model
    # Bedrock refuses (no access, wrong id, end of life, IAM) or an endpoint that cannot be
    # reached keeps health NOT_SERVING, logged as an error and retried with backoff up to
    # ``model_check_backoff_max_s``, so a deploy with an unusable model fails its health
    # checks instead of serving errors. A throttled or slow check still serves.
    require_models: bool = True
    model_check_backoff_max_s: Seconds = 30.0
    # Health follows the model endpoint (reachability.py): after a model call fails to
    # connect, or while calls wait and nothing has come from the endpoint for
    # ``model_stall_s`` (a stopped endpoint accepts TCP and never answers), the endpoint's
    # HTTP front door is probed (connect, TLS for https, ``GET /``; no model call) every
    # ``model_probe_interval_s`` (± 20 %), each bounded by ``model_probe_timeout_s``; the
    # service's health is NOT_SERVING once two probes in a row go unanswered and SERVING at
    # the first answer (or the first byte of any call), so the orchestrator's breakers close
    # as soon as the model is back. A slow first token only asks the probe, so it does not flap.
    model_probe_interval_s: Seconds = 0.5
    model_stall_s: Seconds = 1.0
    model_probe_timeout_s: Seconds = 1.0
    # Sonnet throttled / unavailable / timed out before its first token -> answer with Haiku.
    fallback_to_haiku: bool = True
    history_token_budget: Limit = 600
    default_max_tokens: Count = 512
    max_tokens_limit: Count = 4096
    # Output guardrail: "async" checks the complete answer after it streamed, "sync" checks
    # chunks before they are released (slower first token), "off" skips it.
    output_guardrail: Literal["async", "sync", "off"] = "async"
    # "local" rules, or Bedrock ApplyGuardrail with the id/version below ("auto": Bedrock
    # when a guardrail id is set, else local).
    guardrail_engine: Literal["auto", "local", "bedrock"] = "auto"
    guardrail_id: str = ""
    guardrail_version: str = "DRAFT"
    sync_guardrail_chars: Count = 120
    # Stream deltas after the first are gathered for up to this long (or this many
    # characters) into one gRPC message: each message costs CPU on every hop (this service,
    # the orchestrator's read and its WebSocket frame, the client), the bytes hardly do.
    # 48 ms (three frames of a 60 Hz screen) merges 4-8 model tokens; 16 ms merged almost
    # none at the emulator's 6-12 ms token gaps (decision 0006: 42 → 17 frames per answer,
    # orchestrator CPU per answer -5 ms, TTFT unchanged). 0 merges only deltas already waiting.
    stream_coalesce_ms: float = Field(default=48.0, ge=0.0, le=200.0)
    stream_coalesce_chars: Count = 256

    @field_validator("bedrock_endpoint_url")
    @classmethod
    def _empty_means_aws(cls, value: str | None) -> str | None:
        return value or None

    @property
    def model_ids(self) -> dict[str, str]:
        return {"haiku": self.haiku_model_id, "sonnet": self.sonnet_model_id}

    @property
    def output_engine(self) -> Literal["local", "bedrock"]:
        if self.guardrail_engine == "auto":
            return "bedrock" if self.guardrail_id else "local"
        return self.guardrail_engine

    @model_validator(mode="after")
    def _guardrail_needs_id(self) -> InferenceSettings:
        if self.guardrail_engine == "bedrock" and not self.guardrail_id:
            raise ValueError("guardrail_engine=bedrock needs guardrail_id")
        return self
