"""The chat window acts on a guardrail verdict that arrives after an answer was shown."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.emulator import set_faults
from tests.browser.conftest import ChatPage, ask


@pytest.fixture
async def leaking_model(cluster: Cluster) -> AsyncIterator[None]:
    """Every answer carries an e-mail address, which the output guardrail flags."""
    url = cluster.url("bedrock_emulator")
    set_faults(url, {"model": "*", "fault": "pii-leak"})
    yield
    set_faults(url)


async def test_a_flagged_answer_leaves_the_screen_with_a_notice(chat: ChatPage, leaking_model: None) -> None:
    page = chat.page
    await ask(chat, "Recommend a fantasy manga with dragons and a talking cat")
    turn = page.locator("#log .turn").nth(0)
    notice = turn.locator(".guardrail[role='alert']")
    await notice.wait_for(timeout=20_000)
    assert "withdrawn by our safety check" in await notice.inner_text()
    assert "flagged" in (await turn.get_attribute("class") or "")
    assert await turn.locator(".answer-text").inner_text() == ""
    assert "@" not in await turn.inner_text()  # the leaked address is gone from the page
    received = "".join(chat.received)
    assert '"type":"guardrail"' in received.replace(" ", "")
