"""Every turn of the conversation suite resolved in process, for comparing two revisions.

    python -m bench.conversations.resolutions --out /tmp/after.jsonl            # dev split
    python -m bench.conversations.resolutions --compare /tmp/before.jsonl /tmp/after.jsonl

Each turn goes through the catalog linker, the intent servicer (its text head: no query
embedding) and the dialogue state the orchestrator carries (``with_shown``), and one JSON
line per turn is written: what the turn resolved to (intent, action, reason, focus,
constraints). Run it on two checkouts (``PYTHONPATH`` picks the code) and compare: the turns
whose resolution changed are listed, each marked BETTER / WORSE when its intent moved into
or out of the expected ones. No retrieval runs: the series shown after a turn are taken to be
the one it expects (``top_series`` / ``focus_series``), so this finds *where* a change moved
resolution in a minute or two; the suite through the real processes (``run.py``) measures.
Our own code: no library replays a dialogue-state machine over hand-written conversations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from mangaassist.intent.config import IntentSettings
from mangaassist.intent.model import IntentModel
from mangaassist.intent.service import IntentServicer
from mangaassist.orchestrator.dialogue import with_shown
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.server import open_linker
from mangaassist.retrieval.service import mention_message

HERE = Path(__file__).resolve().parent
KEYS = ("intent", "action", "focus", "constraints")


def conversations(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


async def resolve_all(path: Path) -> list[dict[str, Any]]:
    """One record per turn of every conversation in ``path``, in order."""
    settings = IntentSettings()
    servicer = IntentServicer(IntentModel.load(settings.model_path), settings.abstain_threshold, 10_000)
    linker = open_linker(RetrievalSettings())
    out: list[dict[str, Any]] = []
    for conv in conversations(path):
        state = common_pb2.DialogueState()
        previous: list[str] = []
        for i, turn in enumerate(conv["turns"]):
            expect = turn.get("expect") or {}
            request = intent_pb2.ClassifyRequest(
                text=turn["text"], mentions=[mention_message(link) for link in linker.link(turn["text"])], state=state
            )
            request.context.previous_intents.extend(previous[-3:])
            request.context.turn_count = i
            reply = await servicer.Classify(request, None)  # type: ignore[arg-type]
            resolved = reply.resolved
            out.append(
                {
                    "id": conv["id"],
                    "turn": i,
                    "text": turn["text"],
                    "expected": expect.get("intent"),
                    "intent": reply.intent,
                    "action": resolved.action,
                    "reason": resolved.reason,
                    "focus": text_format.MessageToString(resolved.state.focus, as_one_line=True),
                    "constraints": text_format.MessageToString(resolved.state.constraints, as_one_line=True),
                }
            )
            shown = expect.get("top_series") or expect.get("focus_series")
            state = common_pb2.DialogueState.FromString(with_shown(resolved, [shown] if isinstance(shown, str) else []))
            previous.append(reply.intent)
    return out


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> tuple[list[str], int, int]:
    """The turns whose resolution changed (a line each), and how many moved into / out of the
    expected intents."""
    lines: list[str] = []
    better = worse = 0
    for old, new in zip(before, after, strict=True):
        if all(old[k] == new[k] for k in KEYS):
            continue
        expected = old["expected"] if isinstance(old["expected"], list) else [old["expected"]]
        mark = ""
        if old["expected"] and old["intent"] != new["intent"]:
            if new["intent"] in expected and old["intent"] not in expected:
                mark, better = "BETTER", better + 1
            elif old["intent"] in expected and new["intent"] not in expected:
                mark, worse = "WORSE", worse + 1
        lines.append(f"{mark:6} {old['id']}#{old['turn']} {old['text'][:70]!r}")
        for label, rec in (("before", old), ("after", new)):
            lines.append(
                f"    {label}: {rec['intent']} {rec['action']} ({rec['reason']}) {rec['focus']} | {rec['constraints']}"
            )
    return lines, better, worse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=Path, default=HERE / "dev.jsonl")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        before, after = (
            [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()] for p in args.compare
        )
        lines, better, worse = compare(before, after)
        print("\n".join(lines))
        print(
            f"{len(lines) // 3} turns resolved differently; intent moved into the expected {better}, out of it {worse}"
        )
        return
    records = asyncio.run(resolve_all(args.split))
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"{len(records)} turns -> {args.out}")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
