"""Orchestrator settings (env prefix ``MANGAASSIST_ORCHESTRATOR_``)."""

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from mangaassist.common.grpc_client import channel_target
from mangaassist.common.settings import Count, Limit, Seconds, ServiceSettings
from mangaassist.orchestrator.auth import DEFAULT_AUDIENCE, LOCAL_ISSUER


class OrchestratorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_ORCHESTRATOR_")

    port: int = 8080
    # Each: ``host:port``, a ``dns:///`` name, or a comma-separated list of ``ip:port`` replicas;
    # calls are balanced per call over every address that is up (round_robin).
    intent_target: str = "127.0.0.1:50051"
    retrieval_target: str = "127.0.0.1:50052"
    inference_target: str = "127.0.0.1:50053"

    @field_validator("intent_target", "retrieval_target", "inference_target")
    @classmethod
    def _one_target(cls, value: str) -> str:
        channel_target(value)  # a list gRPC cannot resolve fails the start, with the reason
        return value.strip()

    # Deadlines (seconds). Each call gets min(its own, what is left of the request's).
    request_timeout_s: Seconds = 30.0
    intent_timeout_s: Seconds = 1.0
    retrieval_timeout_s: Seconds = 1.5
    # End-to-end budget until the first token reaches the customer; every call before it
    # (session, intent, retrieval, model start) gets what is left of it.
    first_token_budget_s: Seconds = 2.0
    # Once tokens flow, the longest quiet gap before the answer ends `stream_interrupted`
    # (the model's tokens come every 6-12 ms, merged every 48 ms): a service stopped
    # mid-answer held the question until the request timeout.
    stream_idle_timeout_s: Seconds = 2.0
    health_timeout_s: Seconds = 0.5
    # Retries one request may spend on transient failures of idempotent calls.
    retry_budget: Limit = 2
    # An answer whose model stream breaks after text reached the customer (an inference
    # replica died, the model stream was cut) is continued once from that text (decision 0004).
    resume_broken_streams: bool = True
    # Breaker preset overrides per downstream family, e.g. {"bedrock": {"cooldown_s": 5}}
    # (families: intent, retrieval, inference, dynamodb, redis).
    breakers: dict[str, dict[str, float]] = Field(default_factory=dict)
    # How long a call may wait for a bulkhead slot before it is refused.
    bulkhead_wait_s: Seconds = 0.25

    # Input limits: breaking one is the client's error, never a crash.
    max_frame_bytes: int = Field(default=16_384, ge=256)
    max_text_chars: Count = 2_000
    max_inflight_per_connection: Count = 8
    # Each connection's send queue (outbox.py): token frames that may wait for a slow reader
    # before the request that overflows ends with `stream_interrupted`; a waiting token frame
    # takes the deltas behind it up to this many characters; the socket's own write buffer.
    send_queue_tokens: Count = 256
    send_coalesce_chars: Count = 64
    ws_write_limit_bytes: int = Field(default=32_768, ge=1_024)
    # The kernel's send buffer per WebSocket (SO_SNDBUF; 0 keeps the kernel's autotuning):
    # bounds what a reader that stopped reading pins in kernel memory before the outbox fills.
    ws_send_buffer_bytes: Limit = 0
    retrieval_k: int = Field(default=5, ge=1, le=50)

    # The front door's limits (0 turns one off; see edge.py). Questions per minute, as token
    # buckets, per connection / signed-in customer / source IP (answered `rate_limited` with
    # `retry_after_s`); open connections per process and per IP; how long a socket may sit
    # idle and take for its handshake; browser origins allowed besides this server's pages.
    questions_per_minute_per_connection: Limit = 30
    questions_per_minute_per_customer: Limit = 60
    questions_per_minute_per_ip: Limit = 300
    max_connections: Limit = 5_000
    max_connections_per_ip: Limit = 50
    idle_timeout_s: Seconds = 300.0
    handshake_timeout_s: Seconds = 10.0
    allowed_origins: list[str] = Field(default_factory=list)
    # Behind a load balancer the source IP is the last X-Forwarded-For entry (the one it added).
    trust_forwarded_for: bool = False

    # Sessions and orders. DynamoDB in AWS (standard credential chain) or any
    # DynamoDB-compatible endpoint (moto locally); "memory" keeps sessions in process.
    session_backend: Literal["dynamodb", "memory"] = "dynamodb"
    dynamodb_endpoint_url: str | None = None
    # The DynamoDB client (dynamo.py, decision 0010): aiodynamo (signed JSON over one keep-alive
    # aiohttp session) or aioboto3 (botocore). Same calls, retries, spans and errors.
    dynamodb_client: Literal["aiodynamo", "aioboto3"] = "aiodynamo"
    sessions_table: str = "mangaassist-sessions"
    orders_table: str = "mangaassist-orders"
    # Local conveniences: create tables / seed sample orders at start (off in AWS,
    # where the stack owns the tables and the task role cannot create them).
    create_tables: bool = False
    seed_orders: bool = False
    orders_seed_path: Path = Path(__file__).parent / "data" / "orders.json"
    session_timeout_s: Seconds = 0.5
    history_turns: Limit = 6
    max_sessions: Count = 10_000
    session_ttl_s: Seconds = 7 * 24 * 3_600.0
    # After-answer jobs (postprocess.py): pending at most (past it a new job is refused, never
    # waited for); failed attempts per job that reached the store; the timeout of one attempt;
    # the longest wait between attempts (full jitter); and how long a job is kept at most.
    # An attempt refused by the store's open breaker is deferred, not spent, so a turn waits
    # for a store that is away up to ``postprocess_keep_s`` and is written when it returns.
    # Counting refusals as attempts lost 33 of 726 turns to a 30 s DynamoDB stall at 64
    # sessions (12 attempts, bench/drills.py). 4,000 jobs hold a 2-minute outage at 64
    # sessions (~14 answers/s, a session write and a cache job each).
    postprocess_max_pending: Count = 4_000
    postprocess_max_attempts: Count = 12
    postprocess_attempt_timeout_s: Seconds = 10.0
    postprocess_max_wait_s: Seconds = 5.0
    postprocess_keep_s: Seconds = 300.0

    # Semantic cache: Redis/Valkey with vector search when ``redis_url`` is set
    # (ElastiCache Valkey >= 8.2 in AWS, Redis Stack locally), else an in-process cache.
    cache_enabled: bool = True
    redis_url: str | None = None
    # A floor: the cache check (CacheConfig.check) decides above it (decision 0003).
    cache_threshold: float = Field(default=0.92, gt=0.0, le=1.0)
    cache_ttl_s: Seconds = 3_600.0

    # Sign-in (see auth.py): tokens verify against the keys at ``auth_jwks_url`` (AWS: the
    # Cognito user pool's .well-known/jwks.json, RS256) or, locally, the HS256 ``auth_secret``;
    # ``iss`` must be ``auth_issuer`` and the token meant for ``auth_audience`` (``aud``, or a
    # Cognito access token's ``client_id``). Anonymous browsing is this explicit setting
    # (off in the AWS stack); anonymous sessions belong to the browser's HttpOnly cookie.
    auth_secret: SecretStr | None = Field(default=None, min_length=32)
    auth_jwks_url: str | None = None
    auth_issuer: str = LOCAL_ISSUER
    auth_audience: str = DEFAULT_AUDIENCE
    auth_leeway_s: float = Field(default=30.0, ge=0, le=300)
    auth_jwks_cache_s: Seconds = 300.0
    allow_anonymous: bool = True
    # Mark the anonymous cookie Secure (set it wherever the page is served over HTTPS).
    anonymous_cookie_secure: bool = False

    # /admin/* (breakers, pools, queue) is served only here, on a loopback address, never on
    # the public listener; unset = no admin listener.
    admin_host: str = "127.0.0.1"
    admin_port: int | None = Field(default=None, ge=0, le=65_535)

    @field_validator("admin_host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the admin listener binds a loopback address only (127.0.0.1, ::1, localhost)")
        return host
