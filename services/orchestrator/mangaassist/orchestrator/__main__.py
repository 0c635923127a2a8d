"""``python -m mangaassist.orchestrator``: the WebSocket front door, until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

import uvloop
from opentelemetry.trace import Tracer

from mangaassist.common.grpc_client import open_channel
from mangaassist.common.logging import setup_logging
from mangaassist.common.metrics import observe_asyncio_tasks, setup_metrics
from mangaassist.common.pools import PoolManager
from mangaassist.common.resilience import BreakerOpenError, BulkheadFullError
from mangaassist.common.telemetry import setup_tracing
from mangaassist.orchestrator.app import Orchestrator
from mangaassist.orchestrator.auth import TokenVerifier
from mangaassist.orchestrator.cache import CacheConfig, RedisSemanticCache, make_cache
from mangaassist.orchestrator.catalog_watch import CatalogWatcher
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dynamo import (
    AiodynamoClient,
    DynamoClient,
    DynamoSessionStore,
    OrderStore,
    is_permanent,
    load_orders,
)
from mangaassist.orchestrator.guards import Guards
from mangaassist.orchestrator.pipeline import Downstreams, Pipeline
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.sessions import (
    GuardedSessionStore,
    InMemorySessionStore,
    SessionOwnershipError,
    SessionStore,
)
from mangaassist.proto.inference.v1 import inference_pb2_grpc
from mangaassist.proto.intent.v1 import intent_pb2_grpc
from mangaassist.proto.retrieval.v1 import retrieval_pb2_grpc

logger = logging.getLogger("mangaassist.orchestrator")


async def build_stores(
    settings: OrchestratorSettings, stack: AsyncExitStack, pools: PoolManager, tracer: Tracer | None = None
) -> tuple[SessionStore, OrderStore | None]:
    """Session and order stores from settings; DynamoDB clients close with ``stack``."""
    if settings.session_backend == "memory":
        return InMemorySessionStore(settings.max_sessions, settings.session_ttl_s), None
    client = AiodynamoClient if settings.dynamodb_client == "aiodynamo" else DynamoClient
    db = client(settings.aws_region, settings.dynamodb_endpoint_url, warm_table=settings.sessions_table, tracer=tracer)
    await db.open()
    stack.push_async_callback(db.close)
    pools.register(db.as_pool())
    orders = OrderStore(db, settings.orders_table)

    async def provision() -> None:
        if settings.create_tables:
            await db.ensure_table(settings.sessions_table, "session_id", ttl_attribute="expires_at")
            await db.ensure_table(settings.orders_table, "order_id")
        if settings.seed_orders:
            created = await orders.seed(load_orders(settings.orders_seed_path))
            logger.info("orders seeded", extra={"orders_created": created})

    await provision()
    if settings.create_tables:
        # Locally the tables live in a stand-in that `make up` restarts empty after a crash.
        db.provision_when_missing(provision)
    return DynamoSessionStore(db, settings.sessions_table, settings.session_ttl_s), orders


async def main() -> None:
    settings = OrchestratorSettings()
    setup_logging("orchestrator", settings.log_level)
    provider, tracer = setup_tracing("orchestrator", settings.service_version)
    meters = setup_metrics("orchestrator", settings.service_version)
    observe_asyncio_tasks(asyncio.get_running_loop())
    channels = {
        "intent": open_channel(settings.intent_target, tracer),
        "retrieval": open_channel(settings.retrieval_target, tracer),
        "inference": open_channel(settings.inference_target, tracer),
    }
    downstreams = Downstreams(
        intent=intent_pb2_grpc.IntentServiceStub(channels["intent"]),
        retrieval=retrieval_pb2_grpc.RetrievalServiceStub(channels["retrieval"]),
        inference=inference_pb2_grpc.InferenceServiceStub(channels["inference"]),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        for channel in channels.values():
            stack.push_async_callback(channel.close)
        stack.callback(provider.shutdown)
        stack.callback(meters.shutdown)
        pools = PoolManager("orchestrator")
        sessions, orders = await build_stores(settings, stack, pools, tracer)
        guards = Guards(settings.breakers, settings.bulkhead_wait_s)
        if settings.session_backend == "dynamodb":
            sessions = GuardedSessionStore(sessions, guards["dynamodb"])
        post = PostProcessor(
            settings.postprocess_max_pending,
            permanent=(SessionOwnershipError,),
            is_permanent=is_permanent,
            deferred=(BreakerOpenError, BulkheadFullError),
            max_attempts=settings.postprocess_max_attempts,
            attempt_timeout_s=settings.postprocess_attempt_timeout_s,
            max_wait_s=settings.postprocess_max_wait_s,
            keep_s=settings.postprocess_keep_s,
        )
        cache = None
        if settings.cache_enabled:
            # The guards' redis breaker: /admin/status and /healthz show it, `breakers` tunes it.
            cache = make_cache(
                settings.redis_url,
                CacheConfig(threshold=settings.cache_threshold, ttl_s=settings.cache_ttl_s),
                breaker=guards["redis"].breaker,
            )
            stack.push_async_callback(cache.close)
            if isinstance(cache, RedisSemanticCache):
                cache.trace(provider)
                pools.register(cache.as_pool(settings.redis_url or ""))
        warmed = await pools.warm_all()
        logger.info("pools warmed", extra={"pools": warmed})
        pipeline = Pipeline(settings, downstreams, sessions, orders, tracer, post, guards, cache)
        watcher = CatalogWatcher(downstreams.retrieval, cache, post) if cache is not None else None
        app = Orchestrator(settings, pipeline, channels, TokenVerifier.from_settings(settings), watcher, pools)
        if watcher is not None:
            watcher.start()
        await app.start()
        await stop.wait()
        if watcher is not None:
            await watcher.stop()
        await app.drain()
        logger.info("stopped", extra={"post": vars(post.stats)})


if __name__ == "__main__":
    uvloop.run(main())
