"""Hand-written, independent evaluation set for the semantic cache (issue #20); see FORMAT.md."""
