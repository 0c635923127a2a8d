"""How the page renders frames the real cluster cannot produce on demand.

TEST DOUBLE: a scripted contract server (``websockets`` on an ephemeral port) serves the
real page through the real ``StaticSite`` and answers each query with frames chosen by
its text: every error code, a partial answer ended by ``stream_interrupted``, a socket
closed mid-answer, a cache hit with fallbacks. The page under test is the shipped one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mangaassist.orchestrator import schema
from mangaassist.orchestrator.web import StaticSite
from tests.browser.conftest import ChatPage, ask

RETRYABLE = {code.value for code in schema.RETRYABLE}
# The sentence the page shows for each error code (``stream_interrupted`` marks a partial
# answer instead: test_partial_answer_is_marked_incomplete).
READABLE = {
    "invalid_json": "The message could not be read.",
    "invalid_request": "Something in the question or filters isn't valid.",
    "too_large": "Your message is too long.",
    "rate_limited": "Too many questions at once",
    "unauthorized": "There is a problem with your sign-in.",
    "unavailable": "The assistant is temporarily unavailable.",
    "timeout": "The answer took too long.",
    "internal": "Something went wrong on our side.",
}


def done(request_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "done",
        "request_id": request_id,
        "session_id": "s-scripted",
        "intent": "product_search",
        "model": "sonnet",
        "cache_hit": False,
        "products": [],
        "usage": {"input_tokens": 1, "output_tokens": 2},
        "timings_ms": {"manga-assist-request": 10.0, "intent-classification": 2.0},
        **extra,
    }


class Scripted:
    """Answers by the query text; counts how often each text was asked."""

    def __init__(self) -> None:
        self.asked: dict[str, int] = {}
        self.site = StaticSite()

    async def http(self, _: ServerConnection, request: Request) -> Response | None:
        if request.path == "/ws":
            return None
        return self.site.response(request.path, request.headers) or Response(
            HTTPStatus.NOT_FOUND.value, "Not Found", Headers([("Content-Length", "0")]), b""
        )

    async def handler(self, ws: ServerConnection) -> None:
        async for message in ws:
            frame = json.loads(message)
            rid, text = frame["request_id"], frame["text"]
            self.asked[text] = self.asked.get(text, 0) + 1

            async def send(f: dict[str, Any]) -> None:
                await ws.send(json.dumps(f, ensure_ascii=False))

            if text.startswith("code:"):
                code = text[5:]
                await send(
                    {
                        "type": "error",
                        "request_id": rid,
                        "code": code,
                        "message": f"detail for {code}",
                        "retryable": code in RETRYABLE,
                    }
                )
            elif text == "partial":
                await send({"type": "token", "request_id": rid, "text": "途中までの"})
                await send({"type": "token", "request_id": rid, "text": "回答"})
                await send(
                    {
                        "type": "error",
                        "request_id": rid,
                        "code": "stream_interrupted",
                        "message": "the model stopped",
                        "retryable": True,
                    }
                )
            elif text == "flaky" and self.asked[text] == 1:
                await send(
                    {
                        "type": "error",
                        "request_id": rid,
                        "code": "unavailable",
                        "message": "inference is down",
                        "retryable": True,
                    }
                )
            elif text == "drop":
                await send({"type": "token", "request_id": rid, "text": "Half an ans"})
                await ws.close()
                return
            else:
                await send({"type": "token", "request_id": rid, "text": f"answer to {text}"})
                await send(done(rid, cache_hit=True, fallbacks=["session"], backend="template-emulator"))


@pytest.fixture
async def scripted(browser: Browser) -> AsyncIterator[tuple[ChatPage, Scripted]]:
    script = Scripted()
    async with serve(script.handler, "127.0.0.1", 0, process_request=script.http, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        context = await browser.new_context()
        page: Page = await context.new_page()
        chat = ChatPage(page, f"http://127.0.0.1:{port}")
        page.on("pageerror", lambda exc: chat.page_errors.append(str(exc)))
        page.on("console", lambda msg: chat.console_errors.append(msg.text) if msg.type == "error" else None)
        await page.goto(chat.base_url + "/")
        await page.wait_for_selector('#conn[data-state="open"]')
        yield chat, script
        await context.close()
    assert not chat.page_errors and not chat.console_errors, (chat.page_errors, chat.console_errors)


async def test_every_error_code_reads_as_a_sentence(scripted: tuple[ChatPage, Scripted]) -> None:
    chat, _ = scripted
    for i, code in enumerate(READABLE):
        await ask(chat, f"code:{code}")
        alert = chat.page.locator("#log .turn").nth(i).locator('[role="alert"]')
        await alert.wait_for()
        text = await alert.inner_text()
        assert READABLE[code] in text and f"detail for {code}" in text and f"({code})" in text
        assert await alert.locator("button").count() == (1 if code in RETRYABLE else 0), code


async def test_partial_answer_is_marked_incomplete(scripted: tuple[ChatPage, Scripted]) -> None:
    chat, _ = scripted
    await ask(chat, "partial")
    turn = chat.page.locator("#log .turn").first
    await turn.locator('[role="alert"]').wait_for()
    assert await turn.locator(".answer-text").inner_text() == "途中までの回答"
    assert "Incomplete answer" in await turn.locator(".incomplete-mark").inner_text()
    assert await turn.locator(".answer.incomplete").count() == 1
    assert "cut off" in await turn.locator('[role="alert"]').inner_text()


async def test_retry_from_the_keyboard_asks_again(scripted: tuple[ChatPage, Scripted]) -> None:
    chat, script = scripted
    await ask(chat, "flaky")
    retry = chat.page.locator("#log .turn").first.locator("button.retry")
    await retry.wait_for()
    await retry.focus()
    await chat.page.keyboard.press("Enter")
    second = chat.page.locator("#log .turn").nth(1)
    await second.locator(".badges").wait_for()
    assert script.asked["flaky"] == 2
    assert await retry.is_disabled()
    badges = await second.locator(".badge").all_inner_texts()
    assert "cache hit" in badges and "fallback session" in badges and "model sonnet" in badges


async def test_socket_closed_mid_answer_marks_it_incomplete_and_reconnects(
    scripted: tuple[ChatPage, Scripted],
) -> None:
    chat, _ = scripted
    await ask(chat, "drop")
    turn = chat.page.locator("#log .turn").first
    await turn.locator('[role="alert"][data-code="connection_lost"]').wait_for()
    assert await turn.locator(".incomplete-mark").count() == 1
    assert await turn.locator(".answer-text").inner_text() == "Half an ans"
    await chat.page.wait_for_selector('#conn[data-state="open"]', timeout=10_000)
    await ask(chat, "hello again")
    await chat.page.locator("#log .turn").nth(1).locator(".badges").wait_for()
