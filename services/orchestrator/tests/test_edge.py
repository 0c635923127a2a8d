"""The front door's limits: question buckets, connection caps, idle sockets, allowed origins.

The Orchestrator runs in process on 127.0.0.1:0 with a fake pipeline (it answers `done` at
once); clients are real WebSocket connections.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mangaassist.orchestrator.app import Orchestrator
from mangaassist.orchestrator.auth import Identity, TokenVerifier, issue_token
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.edge import ConnectionLimits, QuestionLimits, origin_allowed
from mangaassist.orchestrator.guards import Guards

pytestmark = pytest.mark.integration

SECRET = "a-test-secret-that-is-long-enough-0123456789"


class FakePipeline:
    """Answers every query with `done` at once."""

    def __init__(self) -> None:
        self.guards = Guards()  # the front door's breaker watcher reads them

    async def handle(
        self, raw: dict[str, Any], received_at: float, emit: Callable[..., Any], identity: Identity
    ) -> None:
        await emit({"type": "done", "request_id": raw.get("request_id"), "customer": identity.customer_id})


@asynccontextmanager
async def front_door(**settings: Any) -> AsyncIterator[Orchestrator]:
    s = OrchestratorSettings(host="127.0.0.1", port=0, session_backend="memory", **settings)
    app = Orchestrator(s, FakePipeline(), {}, TokenVerifier(SECRET))  # type: ignore[arg-type]
    await app.start()
    try:
        yield app
    finally:
        assert app._server is not None
        app._server.close()
        await app._server.wait_closed()


def url(app: Orchestrator, token: str | None = None) -> str:
    return f"ws://127.0.0.1:{app.port}/ws" + (f"?token={token}" if token else "")


async def ask(ws: ClientConnection, request_id: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "query", "text": "hi", "request_id": request_id}))
    async with asyncio.timeout(5):
        frame: dict[str, Any] = json.loads(await ws.recv())
    return frame


# --- the buckets on their own ---------------------------------------------------------------


async def test_a_bucket_allows_a_burst_then_says_when_to_come_back() -> None:
    limits = QuestionLimits(per_connection=3, per_customer=0, per_ip=0)
    bucket = limits.connection_bucket()
    assert [await limits.admit(bucket, None, None) for _ in range(3)] == [None] * 3
    assert await limits.admit(bucket, None, None) == 20.0  # 60 s / 3 questions
    assert await limits.admit(limits.connection_bucket(), None, None) is None  # another connection


async def test_a_refused_question_takes_no_token_from_the_other_buckets() -> None:
    limits = QuestionLimits(per_connection=1, per_customer=5, per_ip=0)
    first = limits.connection_bucket()
    assert await limits.admit(first, "cust-1", None) is None
    for _ in range(10):
        assert await limits.admit(first, "cust-1", None) == 60.0
    # The customer's bucket lost only the one admitted question: 4 more from fresh connections.
    assert [await limits.admit(limits.connection_bucket(), "cust-1", None) for _ in range(5)] == [None] * 4 + [12.0]


async def test_zero_turns_a_limit_off_and_buckets_per_key_are_bounded() -> None:
    limits = QuestionLimits(per_connection=0, per_customer=0, per_ip=2, max_keys=3)
    assert limits.connection_bucket() is None
    for ip in ("a", "b", "c", "d"):
        assert await limits.admit(None, None, ip) is None
    assert len(limits._addresses) == 3


def test_connection_caps() -> None:
    caps = ConnectionLimits(max_connections=3, max_per_ip=2)
    caps.opened("1.1.1.1")
    caps.opened("1.1.1.1")
    assert caps.refusal("1.1.1.1") == "ip" and caps.refusal("2.2.2.2") is None
    caps.opened("2.2.2.2")
    assert caps.refusal("3.3.3.3") == "process"
    caps.closed("1.1.1.1")
    assert caps.refusal("1.1.1.1") is None


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, "shop.example:443", [], True),  # not a browser
        ("https://shop.example", "shop.example", [], True),  # our own page
        ("http://127.0.0.1:8080", "127.0.0.1:8080", [], True),
        ("https://evil.example", "shop.example", [], False),
        ("https://shop.example.evil.example", "shop.example", [], False),
        ("https://partner.example", "shop.example", ["https://partner.example"], True),
        ("https://anything.example", "shop.example", ["*"], True),
        ("null", "shop.example", [], False),
    ],
)
def test_origins(origin: str | None, host: str, allowed: list[str], ok: bool) -> None:
    assert origin_allowed(origin, host, allowed) is ok


# --- through real sockets ----------------------------------------------------------------------


async def test_rate_limited_frames_carry_retry_after_and_the_connection_keeps_working() -> None:
    async with front_door(questions_per_minute_per_connection=2) as app, connect(url(app)) as ws:
        assert (await ask(ws, "a"))["type"] == "done"
        assert (await ask(ws, "b"))["type"] == "done"
        refused = await ask(ws, "c")
        assert refused["type"] == "error" and refused["code"] == "rate_limited"
        assert refused["request_id"] == "c" and refused["retryable"] is True and refused["retry_after_s"] == 30.0
        async with connect(url(app)) as other:  # another connection has its own bucket
            assert (await ask(other, "d"))["type"] == "done"


async def test_a_customer_is_limited_across_connections() -> None:
    token = issue_token(SECRET, "cust-7")
    async with front_door(questions_per_minute_per_customer=2) as app:
        answers = []
        for n in range(3):
            async with connect(url(app, token)) as ws:
                answers.append(await ask(ws, f"q{n}"))
        assert [a["type"] for a in answers] == ["done", "done", "error"]
        assert answers[2]["code"] == "rate_limited" and answers[2]["retry_after_s"] == 30.0
        async with connect(url(app)) as anonymous:  # someone else is not affected
            assert (await ask(anonymous, "x"))["type"] == "done"


async def test_an_address_is_limited_across_connections() -> None:
    async with front_door(questions_per_minute_per_ip=3) as app:
        answers = []
        for n in range(4):
            async with connect(url(app)) as ws:
                answers.append((await ask(ws, f"q{n}"))["type"])
        assert answers == ["done", "done", "done", "error"]


async def test_connection_caps_refuse_the_handshake() -> None:
    async with front_door(max_connections_per_ip=2) as app, connect(url(app)), connect(url(app)):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url(app)):
                pass
        assert refused.value.response.status_code == 429
    async with front_door(max_connections=1, max_connections_per_ip=0) as app, connect(url(app)):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url(app)):
                pass
        assert refused.value.response.status_code == 503


async def test_a_closed_connection_frees_its_place() -> None:
    async with front_door(max_connections_per_ip=1) as app:
        for _ in range(3):
            async with connect(url(app)) as ws:
                assert (await ask(ws, "q"))["type"] == "done"
            await asyncio.sleep(0.05)  # the server notices the close


async def test_an_idle_socket_is_closed() -> None:
    async with front_door(idle_timeout_s=0.2) as app, connect(url(app)) as ws:
        assert (await ask(ws, "q"))["type"] == "done"
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(3):
                await ws.recv()
        assert ws.close_code == 1001 and ws.close_reason == "idle timeout"


async def test_another_sites_page_cannot_open_the_socket() -> None:
    async with front_door() as app:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url(app), origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        async with connect(url(app), origin=f"http://127.0.0.1:{app.port}") as ws:  # type: ignore[arg-type]
            assert (await ask(ws, "q"))["type"] == "done"
        async with connect(url(app)) as ws:  # no Origin: not a browser
            assert (await ask(ws, "q"))["type"] == "done"
