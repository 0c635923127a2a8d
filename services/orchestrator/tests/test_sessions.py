"""In-memory session store: turns carry across calls; memory is bounded."""

from __future__ import annotations

from mangaassist.orchestrator.sessions import InMemorySessionStore, Turn


async def test_turns_accumulate_and_are_isolated() -> None:
    store = InMemorySessionStore(max_sessions=10, ttl_s=60)
    await store.append("a", Turn(None, "greeting", "hi", "hello!"))
    await store.append("a", Turn(None, "product_search", "one piece?", "here"))
    await store.append("b", Turn(None, "payment", "paypay?", "yes"))
    a = await store.load("a")
    assert a.intents == ["greeting", "product_search"]
    assert a.turns[-1] == ("assistant", "here")
    assert (await store.load("b")).intents == ["payment"]
    assert (await store.load("new")).turns == []


async def test_oldest_sessions_are_evicted_beyond_the_limit() -> None:
    store = InMemorySessionStore(max_sessions=2, ttl_s=60)
    for sid in ("s1", "s2", "s3"):
        await store.append(sid, Turn(None, "greeting", "hi", "hello"))
    assert (await store.load("s1")).turns == []
    assert (await store.load("s3")).turns != []


async def test_expired_sessions_start_fresh() -> None:
    store = InMemorySessionStore(max_sessions=2, ttl_s=0.0)
    await store.append("s", Turn(None, "greeting", "hi", "hello"))
    assert (await store.load("s")).turns == []


def test_old_turns_roll_into_a_bounded_summary() -> None:
    from mangaassist.orchestrator.sessions import MAX_SUMMARY_CHARS, MAX_TURNS, Session

    session = Session("s")
    for i in range(200):
        session = session.with_turn(Turn(None, "product_search", f"question {i} " + "x" * 300, "answer " * 200))
    assert len(session.turns) == MAX_TURNS and session.turns[-2][1].startswith("question 199")
    assert "question 100" in session.summary or len(session.summary) == MAX_SUMMARY_CHARS
    assert len(session.summary) <= MAX_SUMMARY_CHARS and session.version == 200


async def test_another_customers_session_cannot_be_written() -> None:
    import pytest

    from mangaassist.orchestrator.sessions import SessionOwnershipError

    store = InMemorySessionStore(max_sessions=10, ttl_s=60)
    await store.append("s", Turn("cust-1", "greeting", "hi", "hello"))
    with pytest.raises(SessionOwnershipError):
        await store.append("s", Turn("cust-2", "greeting", "hi", "hello"))
    with pytest.raises(SessionOwnershipError):
        await store.append("s", Turn(None, "greeting", "hi", "hello"))
    assert (await store.load("s")).customer_id == "cust-1"
