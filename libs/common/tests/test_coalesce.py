"""Coalescing stream deltas: fewer, bigger deltas; the same text, in the same order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from mangaassist.common.coalesce import coalesce


class Final:
    """A non-text item (a stream's last event)."""


async def deltas(items: list[str | Final], gaps: list[float]) -> AsyncIterator[str | Final]:
    for item, gap in zip(items, gaps, strict=True):
        if gap:
            await asyncio.sleep(gap)
        else:
            await asyncio.sleep(0)  # a real stream yields to the loop between deltas
        yield item


async def collect(source: AsyncIterator[str | Final], window_s: float, max_chars: int) -> list[str | Final]:
    return [item async for item in coalesce(source, window_s, max_chars)]


@pytest.mark.parametrize("seed", range(25))
async def test_text_is_byte_for_byte_the_model_text_in_fewer_deltas(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "ワンピース1巻は在庫あり。 Berserk vol. 3 — ¥748 🙂\n"
    text_items: list[str | Final] = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 80))
    ]
    gaps = [rng.choice([0.0, 0.0, 0.0, 0.001, 0.004]) for _ in text_items]
    final = Final()
    out = await collect(deltas([*text_items, final], [*gaps, 0.0]), window_s=0.003, max_chars=rng.randint(1, 40))
    assert out[-1] is final and all(isinstance(x, str) for x in out[:-1])
    assert "".join(x for x in out[:-1] if isinstance(x, str)) == "".join(x for x in text_items if isinstance(x, str))
    assert out[0] == text_items[0]  # the first delta is never merged with what follows
    assert len(out) <= len(text_items) + 1


async def test_waiting_deltas_leave_together_up_to_the_character_cap() -> None:
    items: list[str | Final] = ["a", *("bc" for _ in range(20))]
    out = await collect(deltas(items, [0.0] * len(items)), window_s=1.0, max_chars=8)
    assert out[0] == "a"
    assert all(len(x) <= 8 + 1 for x in out if isinstance(x, str)) and len(out) < len(items) / 2
    assert "".join(x for x in out if isinstance(x, str)) == "a" + "bc" * 20


async def test_the_first_delta_goes_out_before_the_model_sends_anything_else() -> None:
    release = asyncio.Event()

    async def model() -> AsyncIterator[str | Final]:
        yield "first"
        await release.wait()
        yield "second"

    stream = coalesce(model(), window_s=60.0, max_chars=1000)
    assert await anext(stream) == "first"  # not held for the 60 s window
    release.set()
    assert await anext(stream) == "second"
    await stream.aclose()


async def test_a_stall_inside_the_window_flushes_what_is_gathered_at_the_window_end() -> None:
    release = asyncio.Event()

    async def model() -> AsyncIterator[str | Final]:
        yield "1"
        yield "2"
        yield "3"
        await release.wait()  # the model stalls: "2" and "3" must not wait for it
        yield "4"

    stream = coalesce(model(), window_s=0.01, max_chars=1000)
    assert [await anext(stream), await anext(stream)] == ["1", "23"]
    release.set()
    assert [x async for x in stream] == ["4"]


async def test_an_error_after_text_is_raised_after_that_text() -> None:
    async def broken() -> AsyncIterator[str | Final]:
        yield "a"
        yield "b"
        yield "c"
        raise ConnectionResetError("cut")

    got: list[str | Final] = []
    with pytest.raises(ConnectionResetError):
        async for item in coalesce(broken(), window_s=1.0, max_chars=100):
            got.append(item)
    assert "".join(x for x in got if isinstance(x, str)) == "abc"


async def test_closing_early_closes_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[str | Final]:
        try:
            while True:
                yield "x"
                await asyncio.sleep(0)
        finally:
            closed.set()

    stream = coalesce(endless(), window_s=0.0, max_chars=4)
    await anext(stream)
    await anext(stream)
    await stream.aclose()
    assert closed.is_set()
