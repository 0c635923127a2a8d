"""The in-process resolution replay of the conversation suite, on a tiny fixture."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bench.conversations.resolutions import compare, resolve_all

FIXTURE = [
    {
        "id": "fx-kingdom",
        "lang": "en",
        "turns": [
            {"text": "Do you have Kingdom?", "expect": {"intent": "product_search", "top_series": "kingdom"}},
            {"text": "how many volumes are out?", "expect": {"intent": "product_question", "focus_series": "kingdom"}},
        ],
    },
    {"id": "fx-romance", "lang": "en", "turns": [{"text": "Recommend a romance manga", "expect": {}}]},
]


def test_each_turn_is_resolved_against_the_state_the_previous_one_left(tmp_path: Path) -> None:
    split = tmp_path / "dev.jsonl"
    split.write_text("".join(json.dumps(c) + "\n" for c in FIXTURE), encoding="utf-8")
    records = asyncio.run(resolve_all(split))
    assert [(r["id"], r["turn"]) for r in records] == [("fx-kingdom", 0), ("fx-kingdom", 1), ("fx-romance", 0)]
    assert records[1]["intent"] == "product_question" and 'series_id: "kingdom"' in records[1]["focus"]
    assert 'genres: "romance"' in records[2]["constraints"]

    lines, better, worse = compare(records, records)
    assert (lines, better, worse) == ([], 0, 0)
    moved = [dict(r) for r in records]
    moved[1]["intent"] = "product_recommendation"
    lines, better, worse = compare(records, moved)
    assert (better, worse) == (0, 1) and lines[0].startswith("WORSE  fx-kingdom#1")
