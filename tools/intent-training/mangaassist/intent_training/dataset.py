"""The labelled intent dataset (``tools/intent-training/data/intents.jsonl``, see its DATASHEET)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    lang: str
    family: str
    split: str = "train"


def load_examples(path: Path) -> list[Example]:
    """Read the labelled JSONL dataset."""
    examples = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                examples.append(
                    Example(
                        row["text"],
                        row["intent"],
                        row.get("lang", ""),
                        row.get("family", ""),
                        row.get("split", "train"),
                    )
                )
    return examples
