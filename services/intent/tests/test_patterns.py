"""The cue patterns file and the resolver that reads it agree, name for name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from mangaassist.intent import dialogue
from mangaassist.intent.patterns import PAT, PATTERNS_FILE, Patterns


def test_every_cue_the_resolver_reads_is_in_the_file_and_every_entry_is_read() -> None:
    with PATTERNS_FILE.open("rb") as f:
        names = set(tomllib.load(f))
    source = Path(dialogue.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r"\bPAT\.([A-Z][A-Z0-9_]*)\b", source))
    assert read - names == set(), "read by dialogue.py but missing from patterns.toml"
    assert names - read == set(), "in patterns.toml but never read"


def test_a_pattern_in_pieces_is_joined_and_a_missing_name_says_so() -> None:
    table = Patterns({"ONE": "a|b", "PIECES": [r"\bno", r"\s(?:thanks)"]})
    assert table.ONE.pattern == "a|b" and table.PIECES.search("no thanks")
    with pytest.raises(AttributeError, match="no cue pattern 'MISSING'"):
        _ = table.MISSING
    # (the shipped table compiles: a broken pattern fails at import, before any turn)
    assert PAT.SAME_AS.search("same as monster")


def test_no_pattern_holds_a_control_character() -> None:
    # ("\b" in a double-quoted TOML string is a backspace, not a word boundary: use '…' or '''…''')
    for name, pattern in vars(PAT).items():
        assert not re.search(r"[\x00-\x08\x0b-\x1f]", pattern.pattern), name
