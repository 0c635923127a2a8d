"""In-memory session store: turns carry across calls; memory is bounded."""

from __future__ import annotations

from mangaassist.orchestrator.sessions import InMemorySessionStore


async def test_turns_accumulate_and_are_isolated() -> None:
    store = InMemorySessionStore(max_sessions=10, ttl_s=60)
    await store.append("a", "greeting", "hi", "hello!")
    await store.append("a", "product_search", "one piece?", "here")
    await store.append("b", "payment", "paypay?", "yes")
    a = await store.load("a")
    assert a.intents == ["greeting", "product_search"]
    assert a.turns[-1] == ("assistant", "here")
    assert (await store.load("b")).intents == ["payment"]
    assert (await store.load("new")).turns == []


async def test_oldest_sessions_are_evicted_beyond_the_limit() -> None:
    store = InMemorySessionStore(max_sessions=2, ttl_s=60)
    for sid in ("s1", "s2", "s3"):
        await store.append(sid, "greeting", "hi", "hello")
    assert (await store.load("s1")).turns == []
    assert (await store.load("s3")).turns != []


async def test_expired_sessions_start_fresh() -> None:
    store = InMemorySessionStore(max_sessions=2, ttl_s=0.0)
    await store.append("s", "greeting", "hi", "hello")
    assert (await store.load("s")).turns == []
