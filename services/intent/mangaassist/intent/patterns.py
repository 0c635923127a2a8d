"""The dialogue resolver's cue patterns, read from ``patterns.toml`` and compiled once.

The phrasing customers use ("the latter", 「英語版は？」, "not horror please") is vocabulary:
it is kept as data, one named entry per cue with its comment, apart from the policy in
``dialogue.py`` that reads it as ``PAT.<NAME>``. A pattern written in pieces is a TOML list
of strings joined with nothing. Patterns built from other names (``_PLACE``, numbers in
words) stay in the code beside the names they are built from.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PATTERNS_FILE = Path(__file__).with_name("patterns.toml")


class Patterns:
    """Compiled patterns by name, as attributes (``PAT.SAME_AS``): plain attribute lookups."""

    def __init__(self, table: dict[str, str | list[str]]) -> None:
        for name, value in table.items():
            setattr(self, name, re.compile(value if isinstance(value, str) else "".join(value)))

    @classmethod
    def load(cls, path: Path = PATTERNS_FILE) -> Patterns:
        with path.open("rb") as f:
            return cls(tomllib.load(f))

    def __getattr__(self, name: str) -> re.Pattern[str]:
        # Only reached for a name the file lacks (found ones are instance attributes).
        raise AttributeError(f"no cue pattern {name!r} in {PATTERNS_FILE.name}")


PAT = Patterns.load()
