"""Hand-written, independent evaluation set for the semantic cache; see FORMAT.md and
docs/decisions/0003-cache-check.md."""
