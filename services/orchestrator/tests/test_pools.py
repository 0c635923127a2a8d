"""The pool manager over real clients: Redis Stack and DynamoDB (moto), each its own process.
(The running orchestrator's admin endpoint reporting its pools is tests/test_pools_e2e.py.)"""

from __future__ import annotations

import asyncio

import pytest

from mangaassist.common.pools import PoolManager
from mangaassist.devtools.cluster import LOCAL_AWS_ENV
from mangaassist.devtools.redis_server import RedisStackServer
from mangaassist.orchestrator.cache import CacheConfig, CacheKey, RedisSemanticCache
from mangaassist.orchestrator.dynamo import AiodynamoClient, DynamoClient, SessionClient

pytestmark = pytest.mark.integration


async def test_redis_pool_is_warmed_and_reports_its_health(redis_server: RedisStackServer) -> None:
    cache = RedisSemanticCache.from_url(redis_server.url, CacheConfig(), prefix="pools:")
    manager = PoolManager("test")
    manager.register(cache.as_pool(redis_server.url))
    try:
        assert await manager.warm_all() == {"redis": True}
        (warm,) = manager.health()
        assert warm["warmed"] and warm["max_connections"] == 50 and warm["idle"] >= 1 and warm["active"] == 0
        await asyncio.gather(*(cache.lookup_exact(CacheKey(f"question {i}", "en", {}, "")) for i in range(80)))
        (busy,) = manager.health()
        assert busy["requests"] >= warm["requests"] + 80 and busy["errors"] == 0 and busy["active"] == 0
        assert 1 <= busy["connections_opened"] <= 50 and busy["avg_checkout_ms"] >= 0
    finally:
        await cache.clear()
        await cache.close()


async def test_an_unreachable_pool_is_left_cold_without_blocking_the_others(redis_server: RedisStackServer) -> None:
    dead = RedisSemanticCache.from_url("redis://127.0.0.1:9/0", CacheConfig(), prefix="dead:")
    live = RedisSemanticCache.from_url(redis_server.url, CacheConfig(), prefix="live:")
    manager = PoolManager("test")
    for name, cache in (("dead", dead), ("live", live)):
        pool = cache.as_pool("127.0.0.1")
        pool.name = name
        manager.register(pool)
    try:
        assert await manager.warm_all(timeout_s=2.0) == {"dead": False, "live": True}
        assert {h["pool"]: h["warmed"] for h in manager.health()} == {"dead": False, "live": True}
    finally:
        await live.clear()
        for cache in (dead, live):
            await cache.close()


@pytest.mark.parametrize("client", [AiodynamoClient, DynamoClient])
async def test_dynamodb_pool_counts_requests_and_keeps_connections(
    moto_url: str, aws_env: None, client: type[SessionClient]
) -> None:
    setup = DynamoClient(LOCAL_AWS_ENV["AWS_DEFAULT_REGION"], moto_url)
    await setup.open()
    await setup.ensure_table("mangaassist-sessions", "session_id")
    await setup.close()
    db = client(LOCAL_AWS_ENV["AWS_DEFAULT_REGION"], moto_url, warm_table="mangaassist-sessions")
    await db.open()
    manager = PoolManager("test")
    manager.register(db.as_pool())
    try:
        assert await manager.warm_all() == {"dynamodb": True}
        for _ in range(20):
            await db.call("ListTables", {"Limit": 1})
        (health,) = manager.health()
        assert health["requests"] == 21 and health["errors"] == 0 and health["active"] == 0
        # moto's server answers ``Connection: close``, so every request opens a connection
        # here (DynamoDB itself keeps them alive; reuse is shown against the Bedrock emulator).
        assert health["connections_opened"] == 21 and health["idle"] == 0
    finally:
        await db.close()
