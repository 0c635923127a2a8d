"""The catalog change feed: cursor first, replay after a reconnect, reset on a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mangaassist.retrieval.changes import Change, ChangeFeed, StockLevel


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


def level(asin: str, count: int, version: int, origin: str = "a") -> StockLevel:
    return StockLevel(asin, count, version, origin)


def test_the_last_write_wins_and_ties_go_to_the_higher_origin() -> None:
    assert level("A", 1, 10).newer_than(None)
    assert level("A", 1, 11).newer_than(level("A", 5, 10))
    assert not level("A", 1, 10).newer_than(level("A", 1, 10))  # the same level twice changes nothing
    assert level("A", 1, 10, "b").newer_than(level("A", 5, 10, "a"))
    assert not level("A", 1, 9, "z").newer_than(level("A", 5, 10, "a"))


async def test_a_replica_follower_gets_every_level_on_its_cursor_and_on_each_reset() -> None:
    feed = ChangeFeed(keep=2)
    feed.publish(["A"], [level("A", 0, 1)])
    feed.publish(["B"], [level("B", 3, 2)])
    feed.publish(["A"], [level("A", 4, 3)])  # replaces A's level
    (cursor,) = await take(feed.follow("", 0, with_stock=True), 1)
    assert cursor.seq == 3 and {(lv.asin, lv.stock_count) for lv in cursor.levels} == {("A", 4), ("B", 3)}
    # A follower from another feed's epoch (this one restarted) is reset, with the levels to catch up.
    (reset,) = await take(feed.follow("another-epoch", 7, with_stock=True), 1)
    assert reset.reset and {lv.asin for lv in reset.levels} == {"A", "B"}
    # An orchestrator (no with_stock) is only told what changed.
    stream = feed.follow("", 0)
    (plain,) = await take(stream, 1)
    assert plain.levels == ()
    feed.publish(["C"], [level("C", 2, 4)])
    (live,) = await take(stream, 1)
    assert live.asins == ("C",) and live.levels == (level("C", 2, 4),)


async def test_closing_the_feed_ends_every_stream() -> None:
    feed = ChangeFeed()
    stream = feed.follow("", 0)
    await take(stream, 1)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1.0)
