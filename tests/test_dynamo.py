"""Sessions and orders against a real DynamoDB-compatible server (moto, its own process)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mangaassist.devtools.cluster import LOCAL_AWS_ENV, free_port, http_health
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dynamo import DynamoClient, DynamoSessionStore, OrderStore, load_orders
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.sessions import SessionOwnershipError


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while http_health(f"{url}/moto-api/data.json")[0] != 200:
        assert time.monotonic() < deadline and proc.poll() is None, "moto did not start"
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
async def db(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DynamoClient]:
    for key, value in LOCAL_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    client = DynamoClient("ap-northeast-1", moto_url)
    await client.open()
    await client.ensure_table("sessions", "session_id", ttl_attribute="expires_at")
    await client.ensure_table("orders", "order_id")
    yield client
    await client.close()


async def test_table_setup_is_idempotent(db: DynamoClient) -> None:
    await asyncio.gather(*(db.ensure_table("sessions", "session_id", "expires_at") for _ in range(3)))


async def test_session_round_trip_and_ownership(db: DynamoClient) -> None:
    store = DynamoSessionStore(db, "sessions", ttl_s=3600)
    sid = f"s-{os.urandom(4).hex()}"
    assert (await store.load(sid)).version == 0
    await store.append(sid, "cust-1", "greeting", "こんにちは", "こんにちは！")
    await store.append(sid, "cust-1", "product_search", "ワンピース1巻", "あります")
    session = await store.load(sid)
    assert session.customer_id == "cust-1" and session.version == 2
    assert session.turns == [("user", "こんにちは"), ("assistant", "こんにちは！"),
                             ("user", "ワンピース1巻"), ("assistant", "あります")]
    with pytest.raises(SessionOwnershipError):
        await store.append(sid, "cust-2", "greeting", "hi", "hello")


async def test_concurrent_turns_of_one_session_are_all_kept(db: DynamoClient) -> None:
    store = DynamoSessionStore(db, "sessions", ttl_s=3600)
    sid = f"s-{os.urandom(4).hex()}"
    await asyncio.gather(*(store.append(sid, None, f"intent-{i}", f"q{i}", f"a{i}") for i in range(8)))
    session = await store.load(sid)
    assert session.version == 8 and sorted(session.intents) == sorted(f"intent-{i}" for i in range(8))


async def test_expired_session_reads_empty(db: DynamoClient) -> None:
    store = DynamoSessionStore(db, "sessions", ttl_s=-1)
    sid = f"s-{os.urandom(4).hex()}"
    await store.append(sid, None, "greeting", "hi", "hello")
    empty = await store.load(sid)
    assert empty.turns == [] and empty.version == 1
    await store.append(sid, None, "greeting", "hi again", "hello")  # still writable after expiry


async def test_orders_answer_only_their_owner(db: DynamoClient) -> None:
    orders = OrderStore(db, "orders")
    sample = load_orders(OrchestratorSettings().orders_seed_path)
    assert await orders.seed(sample) == len(sample)
    assert await orders.seed(sample) == 0  # idempotent
    first = sample[0]
    own = await orders.get_for_customer(first["order_id"], first["customer_id"])
    assert own is not None and own["status"] == first["status"]
    assert await orders.get_for_customer(first["order_id"], "someone-else") is None
    assert await orders.get_for_customer(first["order_id"], None) is None
    assert await orders.get_for_customer("000-0000000-0000000", first["customer_id"]) is None


class FailingWrites:
    """Test double: the real DynamoDB store, with a share of appends failing before they write."""

    def __init__(self, inner: DynamoSessionStore, rate: float, seed: int) -> None:
        self.inner = inner
        self.rate = rate
        self.rng = random.Random(seed)
        self.injected = 0

    async def append(self, *args: str | None) -> None:
        if self.rng.random() < self.rate:
            self.injected += 1
            raise ConnectionError("injected write failure")
        await self.inner.append(*args)  # type: ignore[arg-type]


async def test_no_turn_is_lost_when_writes_fail(db: DynamoClient) -> None:
    """200 turns over 10 sessions, 30 % of writes failing: every turn lands (versions count them).

    Retries are capped (a store that keeps failing must not hold jobs forever); with 12 attempts
    a turn is lost only after 12 failures in a row (0.3**12, about 1 in 2 million)."""
    store = FailingWrites(DynamoSessionStore(db, "sessions", ttl_s=3600), rate=0.3, seed=5)
    post = PostProcessor(max_wait_s=0.05, max_attempts=12)
    sessions = [f"s-{os.urandom(4).hex()}" for _ in range(10)]
    for turn in range(20):
        for sid in sessions:
            await post.submit("session-update", lambda sid=sid, turn=turn: store.append(
                sid, None, "product_search", f"q{turn}", f"a{turn}"))
    await post.drain(30.0)
    assert store.injected > 0 and post.stats.abandoned == 0
    versions = [(await store.inner.load(sid)).version for sid in sessions]
    assert versions == [20] * 10
