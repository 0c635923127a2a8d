"""Headless Chromium (Debian's ``chromium``, driven by Playwright) against the real cluster.

The browser is the system's, found on PATH or at ``MANGAASSIST_CHROMIUM``; Playwright
never downloads one (``make test`` installs ``chromium`` with apt-get when it is missing).
Every page fixture records console errors (a CSP violation is one), uncaught page errors
and every request, and fails the test if the page did anything but load its own origin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, WebSocket, async_playwright

from mangaassist.devtools.browser import CHROMIUM_ARGS
from mangaassist.devtools.browser import chromium_path as find_chromium
from mangaassist.devtools.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"


def chromium_path() -> str:
    path = find_chromium()
    if not path:
        pytest.fail("no chromium on PATH: run `make browser` (installs Debian's chromium) or set MANGAASSIST_CHROMIUM")
    return path


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        # Playwright gives each launch a fresh, empty temporary profile (--user-data-dir).
        b = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield b
        await b.close()


@dataclass
class ChatPage:
    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # WebSocket frames the page sent
    received: list[str] = field(default_factory=list)


@pytest.fixture
async def chat(browser: Browser, cluster: Cluster) -> AsyncIterator[ChatPage]:
    """A fresh browser context on the chat page, connected to the cluster."""
    context = await browser.new_context(viewport={"width": 1000, "height": 900}, locale="ja-JP")
    page = await context.new_page()
    chat = ChatPage(page, f"http://{cluster.address('orchestrator')}")

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            chat.console_errors.append(msg.text)

    def on_websocket(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: chat.sent.append(str(payload)))
        ws.on("framereceived", lambda payload: chat.received.append(str(payload)))

    page.on("console", on_console)
    page.on("pageerror", lambda exc: chat.page_errors.append(str(exc)))
    page.on("request", lambda req: chat.requests.append(req.url))
    page.on("websocket", on_websocket)
    await page.goto(chat.base_url + "/")
    await page.wait_for_selector('#conn[data-state="open"]', timeout=10_000)
    yield chat
    await context.close()
    origin = urlsplit(chat.base_url).netloc
    foreign = [u for u in chat.requests if urlsplit(u).netloc != origin]
    assert not foreign, f"third-party requests: {foreign}"
    assert not chat.page_errors, chat.page_errors
    # Chromium logs a refused WebSocket handshake as a console error; only the reconnect test causes those.
    unexpected = [e for e in chat.console_errors if "WebSocket connection to" not in e]
    assert not unexpected, unexpected


async def ask(chat: ChatPage, text: str) -> None:
    """Type a question and send it with the keyboard (Enter), as a customer would."""
    box = chat.page.locator("#question")
    await box.fill(text)
    await box.press("Enter")
