"""The chat window in real headless Chromium against the real cluster.

Few, quick tests of what a customer notices: answers stream in and end with product
cards, badges and timings; errors read like sentences; a dropped connection comes back
by itself and the conversation continues.
"""

from __future__ import annotations

import asyncio
import json
import re

from mangaassist.devtools.cluster import Cluster
from tests.browser.conftest import ARTIFACTS, ChatPage, ask

# Set in the page before a question is sent: records whether an answer was ever seen
# with some text but not yet finished, i.e. rendered while it streamed.
WATCH_STREAMING = """() => {
  window.__streamed = 0;
  new MutationObserver(() => {
    const turn = document.querySelector('#log .turn:last-child');
    if (turn && !turn.classList.contains('done') && turn.querySelector('.answer-text').textContent) {
      window.__streamed += 1;
    }
  }).observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});
}"""


def sent_queries(chat: ChatPage) -> list[dict[str, object]]:
    return [f for f in map(json.loads, chat.sent) if f.get("type") == "query"]


def done_frames(chat: ChatPage) -> list[dict[str, object]]:
    return [f for f in map(json.loads, chat.received) if f.get("type") == "done"]


async def answer_and_check(chat: ChatPage, question: str, nth: int) -> None:
    page = chat.page
    await page.evaluate(WATCH_STREAMING)
    await ask(chat, question)
    turn = page.locator("#log .turn").nth(nth)
    await turn.locator(".badges").wait_for(timeout=20_000)
    assert await turn.get_attribute("class") == "turn done"
    assert await page.evaluate("window.__streamed") >= 2, "tokens were not rendered as they arrived"
    tokens = await turn.locator(".answer-text").evaluate("n => n.childNodes.length")
    assert tokens >= 2  # one text node per token frame
    assert await turn.locator(".answer").get_attribute("aria-busy") == "false"

    badges = await turn.locator(".badge").all_inner_texts()
    assert "intent product_recommendation" in badges
    assert any(re.fullmatch(r"model (haiku|sonnet)", b) for b in badges), badges
    assert "cache miss" in badges

    cards = turn.locator(".card")
    assert await cards.count() >= 1
    done = done_frames(chat)[-1]
    products = done["products"]
    assert isinstance(products, list) and await cards.count() == len(products)
    first = products[0]
    card = cards.first
    assert await card.locator(".card-title").inner_text() == first["title"]
    assert await card.locator(".card-author").inner_text() == ", ".join(first["authors"])
    assert await card.locator(".price").inner_text() == f"¥{first['price_jpy']:,}"
    stock = await card.locator(".stock").inner_text()
    assert stock.startswith("In stock") if first["in_stock"] else stock == "Out of stock"

    rows = turn.locator(".timings tr")
    assert await rows.count() >= 5
    assert await turn.locator('.timings tr[data-segment="manga-assist-request"] .bar').count() == 1


async def test_japanese_and_english_questions_stream_and_show_products(chat: ChatPage) -> None:
    await answer_and_check(chat, "おすすめのダークファンタジーは？", 0)
    first = chat.page.locator("#log .turn").nth(0)
    assert await first.locator(".answer-text").get_attribute("lang") == "ja"
    assert "円" in await first.locator(".answer-text").inner_text()

    await answer_and_check(chat, "Recommend a good sports manga", 1)
    second = chat.page.locator("#log .turn").nth(1)
    assert await second.locator(".answer-text").get_attribute("lang") == "en"
    # One conversation: the second query continues the session the first one was given.
    queries = sent_queries(chat)
    assert "session_id" not in queries[0]
    assert queries[1]["session_id"] == done_frames(chat)[0]["session_id"]
    # Keyboard-only: focus is back in the question box after sending.
    assert await chat.page.evaluate("document.activeElement.id") == "question"

    await second.locator(".timings summary").press("Enter")  # open the chart from the keyboard
    await second.locator(".timings table").wait_for(state="visible")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "chat-answer.png"
    await chat.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


async def test_errors_are_shown_readably(chat: ChatPage) -> None:
    page = chat.page
    await ask(chat, "x" * 2_001)  # over the server's 2,000-character limit
    error = page.locator("#log .turn").nth(0).locator('[role="alert"]')
    await error.wait_for(timeout=10_000)
    assert await error.get_attribute("data-code") == "too_large"
    text = await error.inner_text()
    assert "Your message is too long." in text and "2000 characters" in text
    assert await error.locator("button").count() == 0  # not retryable

    # A sign-in token that does not verify: reconnects with ?token=, then every query says why.
    await page.locator(".signin summary").press("Enter")
    await page.locator("#token").fill("not-a-real-token")
    await page.locator("#token").press("Enter")
    await page.wait_for_selector('#conn[data-state="open"]', timeout=10_000)
    await ask(chat, "注文の状況を教えて")
    error = page.locator("#log .turn").nth(1).locator('[role="alert"]')
    await error.wait_for(timeout=10_000)
    assert await error.get_attribute("data-code") == "unauthorized"
    assert "problem with your sign-in" in await error.inner_text()
    assert "invalid sign-in token" in await error.inner_text()
    assert "not-a-real-token" not in page.url


async def test_dropped_connection_reconnects_and_keeps_the_conversation(chat: ChatPage, cluster: Cluster) -> None:
    page = chat.page
    await ask(chat, "おすすめの少年マンガを教えて")
    await page.locator("#log .turn.done").first.wait_for(timeout=20_000)
    session = done_frames(chat)[-1]["session_id"]

    # The orchestrator goes away (SIGTERM: it drains and closes every socket) ...
    assert await asyncio.to_thread(cluster.terminate, "orchestrator") == 0
    await page.wait_for_selector('#conn[data-state="reconnecting"]', timeout=10_000)
    assert "reconnecting" in (await page.locator("#conn").inner_text()).lower()
    assert await page.locator("#send").is_disabled()
    # ... and comes back on the same port: the page reconnects on its own.
    cluster.spawn("orchestrator")
    await asyncio.to_thread(cluster.wait_serving, "orchestrator")
    await page.wait_for_selector('#conn[data-state="open"]', timeout=20_000)

    await ask(chat, "Any more like that?")
    await page.locator("#log .turn").nth(1).locator(".badges").wait_for(timeout=20_000)
    assert sent_queries(chat)[-1]["session_id"] == session
    assert done_frames(chat)[-1]["session_id"] == session
