"""The catalog change feed: cursor first, replay after a reconnect, reset on a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mangaassist.retrieval.changes import Change, ChangeFeed


async def take(stream: AsyncIterator[Change], n: int) -> list[Change]:
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(anext(stream), 1.0))
    return out


async def test_a_new_follower_gets_a_cursor_then_live_changes() -> None:
    feed = ChangeFeed()
    feed.publish(["OLD"])
    stream = feed.follow("", 0)
    (cursor,) = await take(stream, 1)
    assert cursor == Change(feed.epoch, 1, (), reset=False)
    feed.publish(["B", "A", "B"])
    (change,) = await take(stream, 1)
    assert change.asins == ("A", "B") and change.seq == 2


async def test_a_follower_resumes_where_it_left_off() -> None:
    feed = ChangeFeed()
    for asin in ("A", "B", "C"):
        feed.publish([asin])
    replay = await take(feed.follow(feed.epoch, 1), 3)
    assert [c.asins for c in replay] == [(), ("B",), ("C",)] and not replay[0].reset


@pytest.mark.parametrize("epoch", ["another-process", "same"])
async def test_missed_changes_mean_reset(epoch: str) -> None:
    feed = ChangeFeed(keep=2)
    for asin in ("A", "B", "C", "D"):
        feed.publish([asin])
    (cursor,) = await take(feed.follow(feed.epoch if epoch == "same" else epoch, 1), 1)
    assert cursor.reset and cursor.seq == 4


async def test_a_slow_follower_that_falls_behind_the_log_is_reset() -> None:
    feed = ChangeFeed(keep=2)
    stream = feed.follow("", 0)
    await take(stream, 1)
    for asin in ("A", "B", "C"):
        feed.publish([asin])
    (change,) = await take(stream, 1)
    assert change.reset and change.seq == 3
