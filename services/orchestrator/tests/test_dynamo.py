"""Sessions and orders against a real DynamoDB-compatible server (moto, its own process),
through both clients (aiodynamo, the default, and aioboto3)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mangaassist.devtools.faults import FailingAppends
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.dynamo import (
    AiodynamoClient,
    DynamoClient,
    DynamoSessionStore,
    OrderStore,
    SessionClient,
    load_orders,
)
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.sessions import SessionOwnershipError, Turn

pytestmark = pytest.mark.integration

CLIENTS: dict[str, type[SessionClient]] = {"aiodynamo": AiodynamoClient, "aioboto3": DynamoClient}


@pytest.fixture(params=list(CLIENTS))
def client_cls(request: pytest.FixtureRequest) -> type[SessionClient]:
    cls: type[SessionClient] = CLIENTS[request.param]
    return cls


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(spans: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


def calls(spans: InMemorySpanExporter) -> list[str]:
    """The DynamoDB API calls made so far, from their CLIENT spans."""
    return [str((s.attributes or {})["rpc.method"]) for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]


@pytest.fixture
async def db(
    moto_url: str, aws_env: None, client_cls: type[SessionClient], provider: TracerProvider
) -> AsyncIterator[SessionClient]:
    client = client_cls("ap-northeast-1", moto_url, tracer=provider.get_tracer("t"))
    await client.open()
    await client.ensure_table("sessions", "session_id", ttl_attribute="expires_at")
    await client.ensure_table("orders", "order_id")
    yield client
    await client.close()


async def test_pool_warm_up_describes_its_own_table_and_never_lists_tables(
    moto_url: str, aws_env: None, client_cls: type[SessionClient], provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    """The task role may DescribeTable the sessions table; ListTables is not granted."""
    client = client_cls("ap-northeast-1", moto_url, warm_table="warm-sessions", tracer=provider.get_tracer("t"))
    await client.open()
    try:
        await client.ensure_table("warm-sessions", "session_id")
        spans.clear()
        await client.warm()
        assert calls(spans) == ["DescribeTable"]
    finally:
        await client.close()


async def test_every_dynamodb_call_is_a_client_span_with_the_table(
    moto_url: str, aws_env: None, client_cls: type[SessionClient], provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    """X-Ray's service map gets a DynamoDB node: a CLIENT span per call, rpc.* and the table."""
    exporter = spans
    client = client_cls("ap-northeast-1", moto_url, warm_table="traced", tracer=provider.get_tracer("t"))
    await client.open()
    try:
        await client.ensure_table("traced", "session_id")
        exporter.clear()
        with provider.get_tracer("t").start_as_current_span("dynamodb-session-load") as segment:
            await DynamoSessionStore(client, "traced", ttl_s=60).load("s-none")
            with pytest.raises(ClientError) as missing_table:
                await client.get_item("missing", {"session_id": "x"})
            assert missing_table.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        await client.close()
    client_spans = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert [s.name for s in client_spans] == ["DynamoDB.GetItem", "DynamoDB.GetItem"]
    ok, missing = (dict(s.attributes or {}) for s in client_spans)
    assert (ok["rpc.system"], ok["rpc.service"], ok["rpc.method"]) == ("aws-api", "DynamoDB", "GetItem")
    assert ok["aws.dynamodb.table_names"] == ("traced",) and ok["http.response.status_code"] == 200
    assert missing["aws.dynamodb.table_names"] == ("missing",) and missing["http.response.status_code"] == 400
    assert client_spans[1].status.status_code.name == "ERROR"
    assert client_spans[1].status.description == "ResourceNotFoundException"
    assert all(s.parent is not None and s.parent.span_id == segment.get_span_context().span_id for s in client_spans)


async def test_table_setup_is_idempotent(db: SessionClient) -> None:
    await asyncio.gather(*(db.ensure_table("sessions", "session_id", "expires_at") for _ in range(3)))


async def test_session_round_trip_and_ownership(db: SessionClient) -> None:
    store = DynamoSessionStore(db, "sessions", ttl_s=3600)
    sid = f"s-{os.urandom(4).hex()}"
    assert (await store.load(sid)).version == 0
    await store.append(sid, Turn("cust-1", "greeting", "こんにちは", "こんにちは！"))
    await store.append(sid, Turn("cust-1", "product_search", "ワンピース1巻", "あります"))
    session = await store.load(sid)
    assert session.customer_id == "cust-1" and session.version == 2
    assert session.turns == [
        ("user", "こんにちは"),
        ("assistant", "こんにちは！"),
        ("user", "ワンピース1巻"),
        ("assistant", "あります"),
    ]
    with pytest.raises(SessionOwnershipError):
        await store.append(sid, Turn("cust-2", "greeting", "hi", "hello"))


async def test_concurrent_turns_of_one_session_are_all_kept(db: SessionClient) -> None:
    store = DynamoSessionStore(db, "sessions", ttl_s=3600)
    sid = f"s-{os.urandom(4).hex()}"
    await asyncio.gather(*(store.append(sid, Turn(None, f"intent-{i}", f"q{i}", f"a{i}")) for i in range(8)))
    session = await store.load(sid)
    assert session.version == 8 and sorted(session.intents) == sorted(f"intent-{i}" for i in range(8))


async def test_the_dialogue_state_is_written_with_its_turn_and_survives_version_races(db: SessionClient) -> None:
    store = DynamoSessionStore(db, "sessions", ttl_s=3600)
    sid = f"s-{os.urandom(4).hex()}"
    states = [f"state-{i}".encode() for i in range(6)]
    # Six turns race on one session: every write that loses the version race is retried, so
    # every turn lands and the stored state is the one written with the last turn that landed.
    await asyncio.gather(
        *(store.append(sid, Turn(None, "product_search", f"q{i}", f"a{i}", state=states[i])) for i in range(6))
    )
    session = await store.load(sid)
    assert len(session.turns) == 12 and session.version == 6
    last_question = session.turns[-2][1]
    assert session.state == states[int(last_question[1:])]
    await store.append(sid, Turn(None, "greeting", "hi", "hello"))  # a turn without a state keeps the stored one
    assert (await store.load(sid)).state == session.state


async def test_a_turn_is_one_read_and_one_write_and_a_stale_read_loses_no_turn(
    db: SessionClient, spans: InMemorySpanExporter
) -> None:
    """The turn's write appends to the session the turn read (no second read); when another
    turn landed in between, the conditional write fails, the store re-reads, nothing is lost."""
    store = DynamoSessionStore(db, "sessions", ttl_s=3600)
    sid = f"s-{os.urandom(4).hex()}"
    await store.append(sid, Turn("cust-1", "greeting", "hi", "hello"))
    spans.clear()
    base = await store.load(sid)
    await store.append(sid, Turn("cust-1", "product_search", "one piece 1", "in stock"), base=base)
    assert calls(spans) == ["GetItem", "PutItem"]
    spans.clear()
    await store.append(sid, Turn("cust-1", "faq", "shipping?", "free over 2000 yen"), base=base)  # base is stale now
    assert calls(spans) == ["PutItem", "GetItem", "PutItem"]
    session = await store.load(sid)
    assert session.version == 3
    assert [t for r, t in session.turns if r == "user"] == ["hi", "one piece 1", "shipping?"]
    with pytest.raises(SessionOwnershipError):
        await store.append(sid, Turn("cust-2", "greeting", "hi", "hello"), base=session)


async def test_expired_session_reads_empty(db: SessionClient) -> None:
    store = DynamoSessionStore(db, "sessions", ttl_s=-1)
    sid = f"s-{os.urandom(4).hex()}"
    await store.append(sid, Turn(None, "greeting", "hi", "hello"))
    empty = await store.load(sid)
    assert empty.turns == [] and empty.version == 1
    await store.append(sid, Turn(None, "greeting", "hi again", "hello"))  # still writable after expiry


async def test_orders_answer_only_their_owner(db: SessionClient) -> None:
    table = f"orders-{os.urandom(4).hex()}"  # its own table: the moto server is shared by both clients' runs
    await db.ensure_table(table, "order_id")
    orders = OrderStore(db, table)
    sample = load_orders(OrchestratorSettings().orders_seed_path)
    assert await orders.seed(sample) == len(sample)
    assert await orders.seed(sample) == 0  # idempotent
    first = sample[0]
    own = await orders.get_for_customer(first["order_id"], first["customer_id"])
    assert own is not None and own["status"] == first["status"]
    assert await orders.get_for_customer(first["order_id"], "someone-else") is None
    assert await orders.get_for_customer(first["order_id"], None) is None
    assert await orders.get_for_customer("000-0000000-0000000", first["customer_id"]) is None


async def test_no_turn_is_lost_when_writes_fail(db: SessionClient) -> None:
    """200 turns over 10 sessions, 30 % of writes failing: every turn lands once (versions count them).

    Retries are capped (a store that keeps failing must not hold jobs forever); with 12 attempts
    a turn is lost only after 12 failures in a row (0.3**12, about 1 in 2 million)."""
    store = FailingAppends(DynamoSessionStore(db, "sessions", ttl_s=3600), rate=0.3, seed=5)
    post = PostProcessor(max_wait_s=0.05, max_attempts=12)
    sessions = [f"s-{os.urandom(4).hex()}" for _ in range(10)]
    for turn in range(20):
        for sid in sessions:
            await post.submit(
                "session-update",
                lambda sid=sid, turn=turn: store.append(
                    sid, Turn(None, "product_search", f"q{turn}", f"a{turn}", turn_id=f"{sid}-{turn}")
                ),
                key=sid,  # as the orchestrator submits them: one conversation's writes in order
            )
    await post.drain(30.0)
    assert store.injected > 0 and post.stats.abandoned == 0
    versions = [(await store.inner.load(sid)).version for sid in sessions]
    assert versions == [20] * 10


class LandsThenTimesOut:
    """Fault the test controls: the first write reaches DynamoDB, then its reply is lost (a
    stalled store that took the request before it stopped answering)."""

    def __init__(self, inner: DynamoSessionStore) -> None:
        self.inner = inner
        self.calls = 0

    async def append(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        await self.inner.append(*args, **kwargs)
        if self.calls == 1:
            raise TimeoutError("injected: the reply was lost")


async def test_a_write_that_landed_before_its_timeout_is_not_appended_again(db: SessionClient) -> None:
    inner = DynamoSessionStore(db, "sessions", ttl_s=3600)
    sid = f"s-{os.urandom(4).hex()}"
    await inner.append(sid, Turn("cust-1", "greeting", "hi", "hello", turn_id="t-1"))
    base = await inner.load(sid)
    store = LandsThenTimesOut(inner)
    post = PostProcessor(max_wait_s=0.05)
    await post.submit(
        "session-update",
        lambda: store.append(
            sid, Turn("cust-1", "product_search", "one piece 1", "in stock", turn_id="t-2"), base=base
        ),
    )
    await post.drain(10.0)
    session = await inner.load(sid)
    assert store.calls == 2 and post.stats.succeeded == 1
    assert session.version == 2 and [t for r, t in session.turns if r == "user"] == ["hi", "one piece 1"]
    assert session.turn_ids == ["t-1", "t-2"]


async def test_both_clients_read_what_the_other_wrote(moto_url: str, aws_env: None) -> None:
    """While a deploy rolls, tasks on either client share the table: same item, same session."""
    boto, lean = DynamoClient("ap-northeast-1", moto_url), AiodynamoClient("ap-northeast-1", moto_url)
    for client in (boto, lean):
        await client.open()
    try:
        await boto.ensure_table("sessions", "session_id", ttl_attribute="expires_at")
        for writer, reader in ((boto, lean), (lean, boto)):
            sid = f"s-{os.urandom(4).hex()}"
            store = DynamoSessionStore(writer, "sessions", ttl_s=3600)
            await store.append(sid, Turn("cust-1", "greeting", "こんにちは", "こんにちは！", 0.0012, b"\x00state\xff"))
            await store.append(sid, Turn("cust-1", "faq", "送料は？", "無料です", 0.002, turn_id="t-2"))
            written = await store.load(sid)
            read = await DynamoSessionStore(reader, "sessions", ttl_s=3600).load(sid)
            assert read == written
            assert read.state == b"\x00state\xff" and read.turn_ids == ["t-2"] and read.version == 2
            assert abs(read.cost_usd - 0.0032) < 1e-9
            raw = await reader.get_item("sessions", {"session_id": sid})
            assert raw is not None and raw["expires_at"] > time.time() + 3000  # the TTL attribute, in epoch seconds
    finally:
        for client in (boto, lean):
            await client.close()
