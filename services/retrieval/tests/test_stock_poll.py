"""The retrieval task's poll of the shared index for stock changed on other tasks (unit test)."""

from __future__ import annotations

import asyncio

import pytest

from mangaassist.retrieval.opensearch import OpenSearchError
from mangaassist.retrieval.server import poll_stock


class FlakyIndex:
    """A store whose first poll fails; polls are counted, the third one ends the loop."""

    def __init__(self) -> None:
        self.polls = 0
        self.done = asyncio.Event()

    async def poll_stock(self) -> list[str]:
        self.polls += 1
        if self.polls == 1:
            raise OpenSearchError("OpenSearch failed (503 unavailable)", "unavailable")
        if self.polls == 3:
            self.done.set()
        return ["B0X"]


async def test_a_failed_poll_is_retried_and_the_loop_runs_until_cancelled() -> None:
    index = FlakyIndex()
    task = asyncio.create_task(poll_stock(index, 0.001))  # type: ignore[arg-type]
    await asyncio.wait_for(index.done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert index.polls >= 3
